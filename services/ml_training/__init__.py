"""workflow-ml-training: POST /train/smart_ensemble (202 + job id), GET /train/jobs/{job_id}.

ensemble.py holds the pure training logic, jobs.py the job store and the worker-process runner,
app.py the routes.
"""

"""workflow-ml-training: POST /train/smart_ensemble (202 + job id), GET /train/jobs/{job_id},
POST /models/promote, GET /models/current.

ensemble.py holds the pure training logic, jobs.py the job store and the worker-process runner,
promotion.py which trained model prediction serves, app.py the routes.
"""

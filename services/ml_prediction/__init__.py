"""workflow-ml-prediction: POST /predict/single.

model_store.py picks the model (the promoted one models/latest.json names, a pinned promoted version,
or baseline.py's built-in baseline), predictor.py computes P(hit) and the explanations, app.py holds the routes.
"""

"""workflow-ml-prediction: POST /predict/single.

model_store.py picks the model (models/latest.json, a pinned version, or baseline.py's built-in
baseline), predictor.py computes P(hit) and the explanations, app.py holds the routes.
"""

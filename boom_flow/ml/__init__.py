"""Machine-learning models for the classify stage: ONNX (ACAI, BTSbot) and XGBoost.

``triplets`` prepares cutout images, ``models`` wraps each model kind behind one
``predict(table, triplets)`` call, ``registry`` turns the configured model list into
loaded models (reporting a missing or broken file once), ``training`` builds the
project's own XGBoost artifacts.
"""

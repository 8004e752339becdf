"""The benchmarks behind ``tapas benchmark``: they measure, they do not run searches for users.

- :mod:`~tapaskit.evaluation.predictor_benchmark`: predictors on held-out datasets (scenarios A,
  B, C), their error and ranking figures, scatter plots, an MLflow run;
- :mod:`~tapaskit.evaluation.search_benchmark`: how good the predictor's picks from a held-out
  dataset's trained pool are, against random picks.
"""

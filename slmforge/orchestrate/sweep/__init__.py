"""Hyperparameter sweeps on Optuna: `slmforge sweep RECIPE` (space, objective, study, summary)."""

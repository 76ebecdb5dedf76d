"""Preference pairs from a model's own samples (`slmforge prefs`)."""

"""Small data files the training tests learn from."""

from __future__ import annotations

import json
from pathlib import Path


def make_pairs(path: Path, n: int = 60) -> Path:
    """n distinct pairs a tiny model can learn a little of in a few steps (shared by the train, distributed and sweep tests)."""
    animals = ["goat", "mule", "hen", "hog", "cow", "cat"]
    with open(path, "w", encoding="utf-8") as f:
        for i in range(n):
            a = animals[i % len(animals)]
            f.write(json.dumps({"input": f"Tell me about the {a} number {i}.", "output": f"The {a} {i} sleeps by the warm stove."}) + "\n")
    return path

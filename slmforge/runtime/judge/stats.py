"""95 % confidence intervals for judge results: a mean score, and a share (win rate, share 1-2).

Pure functions on plain numbers so the math is tested without a judge. No scipy: the Student-t
quantile comes from the Cornish-Fisher expansion (within 0.004 of the table for df ≥ 5).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

Z975 = 1.959963984540054


def t975(df: int) -> float:
    """Two-sided 95 % Student-t critical value (2.228 for df = 10, → 1.960 as df grows)."""
    if df < 1:
        return math.inf
    exact = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776}  # the expansion is poor below df = 5
    if df in exact:
        return exact[df]
    z = Z975
    return (
        z
        + (z**3 + z) / (4 * df)
        + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)
        + (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / (384 * df**3)
    )


@dataclass(frozen=True)
class Interval:
    value: float
    low: float
    high: float

    def as_dict(self, digits: int = 4) -> dict[str, float]:
        return {"value": round(self.value, digits), "low": round(self.low, digits), "high": round(self.high, digits)}


def mean_ci(values: list[float]) -> Interval | None:
    """Mean with a t-interval; None for no values, and a zero-width interval for one."""
    n = len(values)
    if n == 0:
        return None
    mean = sum(values) / n
    if n == 1:
        return Interval(mean, mean, mean)
    var = sum((v - mean) ** 2 for v in values) / (n - 1)
    half = t975(n - 1) * math.sqrt(var / n)
    return Interval(mean, mean - half, mean + half)


def share_ci(k: int, n: int) -> Interval | None:
    """Share k/n with a Wilson score interval: unlike the normal one it stays inside [0, 1] at 0 % or 100 %."""
    if n == 0:
        return None
    p = k / n
    z2 = Z975**2
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = Z975 * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return Interval(p, max(0.0, centre - half), min(1.0, centre + half))

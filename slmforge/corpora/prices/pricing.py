"""The hidden price function: list price from the features, then noise with heavy tails.

Kept apart from the listings so nothing here can leak into what the model reads; the evaluation
issue scores predictions in dollars against `Item.price`.
"""

from __future__ import annotations

import math
import random

from slmforge.corpora.prices.catalog import CONDITIONS, TIERS
from slmforge.corpora.prices.item import Item

WARRANTY_PER_YEAR = 0.025
NOISE_SIGMA = 0.08  # scale of the log-price noise: most prices land within ~±10 % of list
NOISE_DF = 3  # Student-t degrees of freedom: real prices have fat tails (clearance, bundles, typos)
OUTLIER_RATE = 0.02
MIN_PRICE = 5.0


def list_price(item: Item) -> float:
    """Dollars, no noise: rises with size, brand tier, each feature, better condition and longer warranty."""
    category = item.category
    price = category.base * (item.size / category.reference) ** category.elasticity
    price *= TIERS[item.tier]
    for feature in item.features:
        price *= 1 + feature.premium
    price *= CONDITIONS[item.condition]
    price *= 1 + WARRANTY_PER_YEAR * item.warranty_years
    return price


def student_t(rng: random.Random, df: int) -> float:
    return rng.gauss(0, 1) / math.sqrt(rng.gammavariate(df / 2, 2) / df)


def noisy_price(item: Item, rng: random.Random) -> float:
    """What the item sold for: list price times heavy-tailed noise, rounded to the dollar."""
    factor = math.exp(NOISE_SIGMA * student_t(rng, NOISE_DF))
    if rng.random() < OUTLIER_RATE:
        factor *= rng.uniform(1.5, 3.0) if rng.random() < 0.5 else rng.uniform(0.3, 0.6)
    return float(max(MIN_PRICE, round(list_price(item) * factor)))

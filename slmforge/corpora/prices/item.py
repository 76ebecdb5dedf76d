"""One appliance for sale, drawn at random from the catalog."""

from __future__ import annotations

import random
import string
from dataclasses import dataclass

from slmforge.corpora.prices.catalog import BRANDS, CATEGORIES, COLORS, CONDITIONS, WARRANTY_YEARS, ApplianceCategory, Feature

# Most listings are new: condition weights follow CONDITIONS' order (new first).
CONDITION_WEIGHTS = (60, 8, 12, 8, 8, 4)


@dataclass(frozen=True)
class Item:
    category: ApplianceCategory
    brand: str
    tier: str
    size: float
    features: tuple[Feature, ...]
    condition: str
    warranty_years: int
    color: str
    model: str


def _size(rng: random.Random, category: ApplianceCategory) -> float:
    steps = round((category.high - category.low) / category.step)
    return round(category.low + category.step * rng.randint(0, steps), 2)


def make_item(rng: random.Random) -> Item:
    category = CATEGORIES[rng.randrange(len(CATEGORIES))]
    brand, tier = BRANDS[rng.randrange(len(BRANDS))]
    # Pricier brands pack more features, as in real catalogs: features and tier are correlated.
    chance = {"budget": 0.2, "mid": 0.35, "premium": 0.5, "luxury": 0.65}[tier]
    features = tuple(f for f in category.features if rng.random() < chance)
    condition = rng.choices(list(CONDITIONS), CONDITION_WEIGHTS)[0]
    warranty = rng.choice(WARRANTY_YEARS[:3] if condition.startswith("Used") else WARRANTY_YEARS)
    model = brand[:2].upper() + "-" + "".join(rng.choices(string.ascii_uppercase + string.digits, k=6))
    return Item(category, brand, tier, _size(rng, category), features, condition, warranty, rng.choice(COLORS), model)

"""Listings as a shopper sees them, and the price-guessing pairs built from them."""

from __future__ import annotations

import random

from slmforge.corpora.prices.item import Item, make_item
from slmforge.corpora.prices.pricing import noisy_price

DEFAULT_ITEMS = 25_000
QUESTION = "How much does this cost to the nearest dollar?"


def _size_text(item: Item) -> str:
    size = f"{item.size:,.2f}".rstrip("0").rstrip(".")
    return f"{size} {item.category.unit}"


def title(item: Item) -> str:
    """'Frostmere 25.6 cu. ft. French Door Refrigerator with ice maker and Wi-Fi, White'."""
    prefixes = " ".join(f.prefix for f in item.features if f.prefix)
    headline = [f.name for f in item.features if not f.prefix][:2]
    with_ = f" with {' and '.join(headline)}" if headline else ""
    noun = f"{prefixes} {item.category.noun}" if prefixes else item.category.noun
    return f"{item.brand} {_size_text(item)} {noun}{with_}, {item.color}"


def listing_text(item: Item) -> str:
    """The listing the model reads: every field a shopper would see, nothing about how it is priced."""
    warranty = "none" if item.warranty_years == 0 else f"{item.warranty_years} year{'s' if item.warranty_years > 1 else ''}"
    lines = [
        f"Title: {title(item)}",
        f"Category: {item.category.plural}",
        f"Brand: {item.brand}",
        f"Capacity: {_size_text(item)}",
        f"Features: {'; '.join(f.name for f in item.features) or 'none listed'}",
        f"Color: {item.color}",
        f"Condition: {item.condition}",
        f"Warranty: {warranty}",
        f"Model: {item.model}",
    ]
    return "\n".join(lines)


def price_answer(price: float) -> str:
    return f"Price is ${price:.2f}"


def price_record(item: Item, price: float) -> dict:
    return {
        "input": f"{QUESTION}\n\n{listing_text(item)}",
        "output": price_answer(price),
        "category": item.category.plural,
        "brand": item.brand,
        "condition": item.condition,
        "price": price,
    }


def price_records(items: int = DEFAULT_ITEMS, seed: int = 0) -> list[dict]:
    """`items` listings with their prices; deterministic by seed."""
    rng = random.Random(seed)
    records = []
    for _ in range(items):
        item = make_item(rng)
        records.append(price_record(item, noisy_price(item, rng)))
    return records

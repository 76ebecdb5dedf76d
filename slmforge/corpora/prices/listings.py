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


# Answers are whole dollars zero-padded to one width for the whole set ("Price is $0219"). A tokenizer that writes
# digits one token each (SmolLM2, Qwen2.5) then chooses the magnitude with the first digit, and digit order is
# numeric order, so eval can read the digits off at the model's median (evaluate.median). Unpadded, a greedy model
# starts every price with "1" (likeliest for $100-199 and $1,000-1,999 alike) and never chooses the magnitude:
# measured, all 40 greedy answers $101-$129.
MIN_WIDTH = 4


def price_answer(price: float, width: int = MIN_WIDTH) -> str:
    return f"Price is ${round(price):0{width}d}"


def short_listing(item: Item) -> str:
    """'Refrigerators: Frostmere 25.6 cu. ft. French Door Refrigerator with ice maker, White' and its condition: the title
    already names brand, size, the headline features and color (bench/RESULTS.md, "Price task", measured why)."""
    return f"{item.category.plural}: {title(item)}\nCondition: {item.condition}"


LISTINGS = ("full", "short")


def price_record(item: Item, price: float, width: int = MIN_WIDTH, listing: str = "full") -> dict:
    if listing not in LISTINGS:
        raise ValueError(f"listing must be one of {', '.join(LISTINGS)}, got {listing!r}")
    return {
        "input": f"{QUESTION}\n\n{listing_text(item)}" if listing == "full" else short_listing(item),
        "output": price_answer(price, width),
        "category": item.category.plural,
        "brand": item.brand,
        "condition": item.condition,
        "price": price,
    }


def price_records(items: int = DEFAULT_ITEMS, seed: int = 0, listing: str = "full") -> list[dict]:
    """`items` listings with their prices; deterministic by seed (the same items and prices whatever `listing`)."""
    rng = random.Random(seed)
    priced = []
    for _ in range(items):
        item = make_item(rng)
        priced.append((item, noisy_price(item, rng)))
    width = max([MIN_WIDTH] + [len(str(round(price))) for _, price in priced])  # one width: a rare $12,914 widens them all
    return [price_record(item, price, width, listing) for item, price in priced]

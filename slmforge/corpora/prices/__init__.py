"""Appliance listings priced by a hidden function of their features plus heavy-tailed noise.

Pairs: "How much does this cost to the nearest dollar?\\n\\n<listing>" -> "Price is $0123" (whole dollars, zero-padded
to one width for the set: the first digit chooses the magnitude; see listings.py);
records also carry `price` (float) for scoring by mean absolute error in dollars.
"""

from slmforge.corpora.prices.listings import DEFAULT_ITEMS, QUESTION, listing_text, price_record, price_records

__all__ = ["DEFAULT_ITEMS", "QUESTION", "listing_text", "price_record", "price_records"]

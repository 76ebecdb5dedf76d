"""Appliance prices: the hidden function moves the right way, noise has fat tails, records leak nothing."""

from __future__ import annotations

import json
import math
import random
import re
from dataclasses import replace
from statistics import median

import pytest

from slmforge.core.errors import DataError
from slmforge.corpora import generate_corpus
from slmforge.corpora.prices import QUESTION, price_records
from slmforge.corpora.prices.catalog import CONDITIONS, TIERS, WARRANTY_YEARS
from slmforge.corpora.prices.item import make_item
from slmforge.corpora.prices.listings import listing_text
from slmforge.corpora.prices.pricing import list_price, noisy_price


@pytest.fixture(scope="module")
def items():
    rng = random.Random(9)
    return [make_item(rng) for _ in range(300)]


def test_bigger_costs_more(items):
    for item in items:
        bigger = replace(item, size=item.size + item.category.step)
        assert list_price(bigger) > list_price(item)


def test_every_feature_adds_to_the_price(items):
    for item in items:
        for feature in item.category.features:
            if feature not in item.features:
                assert list_price(replace(item, features=item.features + (feature,))) > list_price(item)


def test_better_condition_brand_and_warranty_cost_more(items):
    ranked_conditions = list(CONDITIONS)  # best first
    ranked_tiers = sorted(TIERS, key=TIERS.get)
    for item in items:
        by_condition = [list_price(replace(item, condition=c)) for c in ranked_conditions]
        assert by_condition == sorted(by_condition, reverse=True) and len(set(by_condition)) == len(by_condition)
        by_tier = [list_price(replace(item, tier=t)) for t in ranked_tiers]
        assert by_tier == sorted(by_tier) and len(set(by_tier)) == len(by_tier)
        by_warranty = [list_price(replace(item, warranty_years=y)) for y in WARRANTY_YEARS]
        assert by_warranty == sorted(by_warranty) and len(set(by_warranty)) == len(by_warranty)


def test_color_and_model_number_do_not_move_the_price(items):
    for item in items[:50]:
        assert list_price(replace(item, color="Bisque", model="XX-000000")) == list_price(item)


def test_noise_is_mostly_small_with_heavy_tails():
    rng = random.Random(1)
    logs = []
    for _ in range(20_000):
        item = make_item(rng)
        logs.append(math.log(noisy_price(item, rng) / list_price(item)))
    spread = median(abs(x) for x in logs)
    mean = sum(logs) / len(logs)
    var = sum((x - mean) ** 2 for x in logs) / len(logs)
    kurtosis = sum((x - mean) ** 4 for x in logs) / len(logs) / var**2
    assert 0.03 < spread < 0.12  # a typical listing sells within ~10 % of list
    assert kurtosis > 6  # a normal distribution has 3: real prices have outliers
    assert max(abs(x) for x in logs) > 0.5


def test_records_show_the_listing_and_hide_how_it_is_priced():
    records = price_records(500, seed=2)
    for r in records:
        assert set(r) == {"input", "output", "category", "brand", "condition", "price"}
        assert r["input"].startswith(QUESTION + "\n\n")
        # Whole dollars at one width for the set (4 digits unless a price needs more): the first digit fixes the magnitude.
        assert re.fullmatch(r"Price is \$\d{4}", r["output"]) and int(r["output"][10:]) == r["price"]
        assert isinstance(r["price"], float) and r["price"] >= 5
        lowered = r["input"].lower()
        assert not any(secret in lowered for secret in ("tier", "premium", "luxury", "budget", "list price", "noise"))
        for field in ("Title:", "Brand:", "Capacity:", "Features:", "Condition:", "Warranty:"):
            assert field in r["input"]


def test_listing_names_the_features_that_set_the_price(items):
    for item in items[:100]:
        text = listing_text(item)
        assert item.brand in text and item.condition in text and item.category.unit in text
        assert all(f.name in text for f in item.features)


def test_prices_are_deterministic_by_seed_and_default_to_25000(tmp_path):
    assert price_records(200, seed=5) == price_records(200, seed=5) != price_records(200, seed=6)
    out = tmp_path / "prices.jsonl"
    assert generate_corpus("prices", out, seed=0) == 25_000 == len(out.read_text().splitlines())


def test_a_short_listing_asks_with_the_category_title_and_condition_of_the_same_items_at_the_same_prices(tmp_path):
    full, short = price_records(300, seed=3), price_records(300, seed=3, listing="short")
    assert [(r["price"], r["output"], r["category"]) for r in full] == [(r["price"], r["output"], r["category"]) for r in short]
    for f, s in zip(full, short):
        fields = dict(line.split(": ", 1) for line in f["input"].split("\n\n", 1)[1].split("\n"))
        assert s["input"] == f"{fields['Category']}: {fields['Title']}\nCondition: {fields['Condition']}"
    out = tmp_path / "short.jsonl"
    assert generate_corpus("prices", out, seed=3, size=300, listing="short") == 300
    assert [json.loads(line)["input"] for line in out.read_text().splitlines()] == [r["input"] for r in short]
    with pytest.raises(DataError, match="unknown option.*colour"):
        generate_corpus("prices", out, seed=3, size=10, colour="red")


def test_the_listing_option_is_refused_on_another_corpus_naming_the_key():
    from pydantic import ValidationError

    from slmforge.core.sections import CorpusSource

    assert CorpusSource(name="prices", listing="short").listing == "short"
    with pytest.raises(ValidationError, match="data.corpus.listing is an option of the prices corpus"):
        CorpusSource(name="folksy", listing="short")

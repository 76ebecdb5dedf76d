"""Task metrics: numbers parsed from outputs (price prediction), exact match, classic baselines.

A reply the parser cannot read counts as a parse failure and is never silently dropped: error
metrics are reported over the parsed replies next to the failure count, and `mae_all` charges
every failure the error of predicting the training mean, so a model that stops answering cannot
look better than one that answers badly.
"""

from __future__ import annotations

import math
import re
import statistics
from collections import defaultdict
from dataclasses import asdict, dataclass
from typing import Any

from slmforge.evaluate.text_metrics import normalize

# "$1,234.50", "1234", "-3.5e2": the first number of a reply, thousands separators allowed.
_NUMBER = re.compile(r"-?\$?\s?(?:\d{1,3}(?:,\d{3})+(?!\d)|\d+)(?:\.\d+)?")


def parse_number(text: str) -> float | None:
    """The first number in text ('Price is $1,299.00' → 1299.0), or None."""
    match = _NUMBER.search(text or "")
    if not match:
        return None
    raw = match.group(0).replace("$", "").replace(",", "").replace(" ", "")
    try:
        value = float(raw)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def is_number_answer(text: str, max_other_words: int = 4) -> bool:
    """A reply that is a number with a few words around it ('Price is $123.00'), not prose that mentions one."""
    match = _NUMBER.search(text or "")
    if not match:
        return False
    rest = (text[: match.start()] + " " + text[match.end():]).split()
    return len(rest) <= max_other_words


@dataclass(frozen=True)
class NumberScores:
    mae: float | None  # mean absolute error over parsed outputs
    rmse: float | None
    within_10pct: float | None  # share of parsed outputs within 10 % of the truth
    parse_failures: int
    n: int  # all outputs, parsed or not
    mae_all: float | None  # MAE over all outputs, a failure charged |truth - fallback|

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def number_scores(predictions: list[float | None], truths: list[float], fallback: float | None = None) -> NumberScores:
    """Error metrics of predictions (None = parse failure) against true values."""
    pairs = [(p, t) for p, t in zip(predictions, truths) if p is not None]
    failures = sum(1 for p in predictions if p is None)
    n = len(predictions)
    if not pairs:
        mae_all = sum(abs(t - fallback) for t in truths) / n if (n and fallback is not None) else None
        return NumberScores(None, None, None, failures, n, mae_all)
    errors = [abs(p - t) for p, t in pairs]
    mae = sum(errors) / len(errors)
    rmse = math.sqrt(sum(e * e for e in errors) / len(errors))
    within = sum(1 for (p, t) in pairs if abs(p - t) <= 0.10 * abs(t)) / len(pairs)
    mae_all = None
    if fallback is not None:
        charged = [abs(p - t) if p is not None else abs(t - fallback) for p, t in zip(predictions, truths)]
        mae_all = sum(charged) / n
    return NumberScores(mae, rmse, within, failures, n, mae_all)


def exact_match(outputs: list[str], references: list[str]) -> float:
    """Share of outputs equal to their reference after normalizing case, punctuation and spaces."""
    if not outputs:
        return 0.0
    return sum(1 for o, r in zip(outputs, references) if normalize(o) == normalize(r)) / len(outputs)


# --------------------------------------------------------------------------- baselines
def mean_baseline(train_values: list[float], n: int) -> list[float]:
    """Predict the training mean for every test row."""
    mean = sum(train_values) / len(train_values)
    return [mean] * n


def group_median_baseline(train_values: list[float], train_groups: list[str], test_groups: list[str]) -> list[float]:
    """Predict the training median of the row's group (e.g. category); unseen groups get the overall median."""
    by_group: dict[str, list[float]] = defaultdict(list)
    for value, group in zip(train_values, train_groups):
        by_group[group].append(value)
    overall = statistics.median(train_values)
    medians = {g: statistics.median(v) for g, v in by_group.items()}
    return [medians.get(g, overall) for g in test_groups]


def ridge_baseline(train_texts: list[str], train_values: list[float], test_texts: list[str]) -> list[float]:
    """TF-IDF (words and bigrams) + ridge regression on log price: the classic regressor to beat.

    Prices are skewed (a few expensive items), so the regressor fits log1p and predicts expm1.
    """
    import numpy as np
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import Ridge

    vectorizer = TfidfVectorizer(ngram_range=(1, 2), min_df=1, sublinear_tf=True)
    features = vectorizer.fit_transform(train_texts)
    target = np.log1p(np.clip(np.asarray(train_values, dtype=float), 0, None))
    model = Ridge(alpha=1.0).fit(features, target)
    predicted = np.expm1(model.predict(vectorizer.transform(test_texts)))
    return [float(max(0.0, p)) for p in predicted]


def baselines(
    train_texts: list[str],
    train_values: list[float],
    train_groups: list[str] | None,
    test_texts: list[str],
    test_groups: list[str] | None,
    test_values: list[float],
) -> dict[str, NumberScores]:
    """Scores of every classic baseline on the test rows (groups None = no per-group median)."""
    fallback = sum(train_values) / len(train_values)
    result = {"mean": number_scores(mean_baseline(train_values, len(test_values)), test_values, fallback)}
    if train_groups is not None and test_groups is not None:
        predictions = group_median_baseline(train_values, train_groups, test_groups)
        result["group median"] = number_scores(list(predictions), test_values, fallback)
    if len(train_texts) >= 2:
        result["tf-idf ridge"] = number_scores(list(ridge_baseline(train_texts, train_values, test_texts)), test_values, fallback)
    return result

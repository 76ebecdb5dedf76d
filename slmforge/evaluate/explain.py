"""Sentences that say what moved when a metric moved the wrong way, so a number never falls without a why.

distinct-n is a ratio over every answer together: it falls when answers reuse a frame, when many
say nothing, or when the sampled answers to a prompt are all alike. Shorter answers alone usually
raise it (fewer words, fewer repeats), so length is reported as a fact beside the causes.
"""

from __future__ import annotations

from typing import Any

_FALL = 0.01  # distinct-2 drops smaller than this are noise on a few dozen answers
_LENGTH_CHANGE = 0.2  # mean words differing by more than 20 % is worth a mention


def _frame(scores: dict[str, Any]) -> str:
    return f"'{scores['top_frame']}' in {scores['top_frame_share']:.0%} of answers" if scores.get("top_frame") else "no frame"


def _causes(tuned: dict[str, Any], other: dict[str, Any], label: str) -> list[str]:
    causes = []
    share, other_share = tuned.get("top_frame_share") or 0.0, other.get("top_frame_share") or 0.0
    if share >= 0.1 and share > other_share + 0.05:
        causes.append(f"a frame is reused: {_frame(tuned)} ({label}: {_frame(other)})")
    bad, other_bad = tuned.get("degenerate"), other.get("degenerate")
    if bad is not None and other_bad is not None and bad > other_bad + 0.05:
        reasons = tuned.get("degenerate_by_reason") or {}
        top = max(reasons, key=reasons.get) if reasons else None
        causes.append(f"{bad:.0%} of answers say nothing ({label}: {other_bad:.0%})" + (f", mostly {top.replace('_', ' ')}" if top else ""))
    sampled, other_sampled = tuned.get("sample_distinctness"), other.get("sample_distinctness")
    if sampled is not None and other_sampled is not None and sampled < other_sampled - 0.05:
        causes.append(f"sampled answers to one prompt are more alike (distinctness {sampled:.2f} vs {other_sampled:.2f})")
    return causes


def distinct_notes(models: dict[str, dict[str, Any]], tuned: str) -> list[str]:
    """One sentence when the tuned model's distinct-2 is below the base's (or, without a base, the references')."""
    other = "base" if "base" in models and tuned != "base" else "reference" if "reference" in models else None
    if other is None or tuned not in models:
        return []
    mine, theirs = models[tuned], models[other]
    a, b = theirs.get("distinct_2"), mine.get("distinct_2")
    if a is None or b is None or b >= a - _FALL:
        return []
    causes = _causes(mine, theirs, other)
    words, other_words = mine.get("mean_words"), theirs.get("mean_words")
    if words and other_words and abs(words - other_words) > _LENGTH_CHANGE * other_words:
        causes.append(f"answers are {'shorter' if words < other_words else 'longer'} ({words:.1f} vs {other_words:.1f} words)")
    if not causes:
        causes.append("no frame dominates and no answer is hollow: look at the samples for repeated wording")
    return [f"distinct-2 fell from {a:.2f} ({other}) to {b:.2f} ({tuned}): " + "; ".join(causes) + "."]

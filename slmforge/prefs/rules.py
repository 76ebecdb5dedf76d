"""Rule-based scorers for `prefs.scorer` (module:function), usable where no judge server is at hand.

`folksy_shape` scores the *shape* of a folksy saying, not its wit: five checks worth one point
each (0-5). It is what the CPU demo recipe (folksy-dpo-quick) uses as its judge, so DPO there
learns "answer with one tidy sentence of proverb length, in your own words" — a real, visible
preference, but a narrow one. A judge model (prefs.scorer: judge) is what scores quality.

`folksy_saying` is the shape plus content, scored a batch at a time: a saying that says nothing
("A sock is just a sock.", a loop, one clause twice) or that leans on a frame many of the batch's
answers share ("... with a better story" in a third of them) loses EMPTY_PENALTY points, more than
the shape can give, so DPO's pairs teach "say something of your own" before "be tidy". The same
detector as eval's degenerate share (runtime/emptiness), with a lower frame threshold: answers
sampled at temperature 1 spread wider than greedy ones, so a habit shows at a smaller share.
The demo recipe (folksy-quick) uses it.
"""

from __future__ import annotations

import re

from slmforge.runtime.emptiness import emptiness

MIN_WORDS, MAX_WORDS = 6, 20
EMPTY_PENALTY = 6.0  # above folksy_shape's five points: an empty tidy saying ranks below any saying with content
SAMPLED_FRAME_SHARE = 0.10  # a 3-word frame in more than 10 % of a batch's sampled answers is a habit (the corpus's top: ~8 %)
# Sentence-ending punctuation followed by more text: a second sentence.
_SECOND_SENTENCE = re.compile(r"[.!?]['\")]*\s+\S")
_PREAMBLE = re.compile(r"^(here'?s|here is|sure|okay|ok|certainly|as an? )\b|^[-*#>\d]", re.I)


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z']+", text.lower())


def copies_prompt(prompt_text: str, answer: str, n: int = 4) -> bool:
    """True when the answer repeats n words in a row from the request (restating it, not answering)."""
    p, a = _words(prompt_text), _words(answer)
    grams = {tuple(p[i:i + n]) for i in range(len(p) - n + 1)}
    return any(tuple(a[i:i + n]) in grams for i in range(len(a) - n + 1))


def folksy_checks(prompt_text: str, answer: str) -> dict[str, bool]:
    """The five checks by name (the report and the tests read them)."""
    text = answer.strip()
    words = _words(text)
    return {
        "one_sentence": "\n" not in text and not _SECOND_SENTENCE.search(text),
        "ends_with_period": text.endswith("."),
        "own_words": not copies_prompt(prompt_text, text),
        "length_band": MIN_WORDS <= len(words) <= MAX_WORDS,
        "no_preamble": bool(text) and text[0].isupper() and not _PREAMBLE.search(text) and ":" not in text,
    }


def folksy_shape(prompt: list[dict[str, str]], answer: str) -> float:
    """prefs.scorer slmforge.prefs.rules:folksy_shape — points (0-5) for a one-sentence saying's shape."""
    request = next((m["content"] for m in reversed(prompt) if m["role"] == "user"), "")
    return float(sum(folksy_checks(request, answer).values()))


def folksy_saying(prompts: list[list[dict[str, str]]], answers: list[list[str]]) -> list[list[float]]:
    """prefs.scorer slmforge.prefs.rules:folksy_saying — per prompt, each answer's folksy_shape points, minus
    EMPTY_PENALTY when it says nothing or uses a frame over SAMPLED_FRAME_SHARE of the batch's answers."""
    flat = [a for k in answers for a in k]
    reasons = iter(emptiness(flat, frame_share=SAMPLED_FRAME_SHARE).reasons)
    return [[folksy_shape(p, a) - (EMPTY_PENALTY if next(reasons) is not None else 0.0) for a in k] for p, k in zip(prompts, answers)]


folksy_saying.batch = True  # type: ignore[attr-defined]  # runtime/scorers calls it with the batch (frames need the others)

"""Metrics that see emptiness in generated text: answers that say nothing, however fluent.

BLEU, ROUGE, novelty and loss all improve when a model learns the *shape* of a corpus; none of
them notices "A sock is just a sock." This module flags such answers, each with its reason:

  empty             a blank reply
  tautology         every clause is "X is X" ("A sock is just a sock.", "A fence with no gate is
                    just a fence with no gate."); a clause with a twist beside it ("A milk pail is
                    a milk pail, no matter how you look at it.") is the corpus's own style, not empty
  self_equivalence  "X is just X ..." ("A bridge is just a bridge with a different name.")
  self_removal      "X with no X" ("A soup with no soup is just a kettle.")
  repeated_clause   one clause said twice ("Ain't no paint in sight, ain't no paint in sight.")
  repeated_ngram    the same REPEAT_N words twice in one answer (a loop)
  stock_frame       a 3-word frame that more than `frame_share` of the answers use

and measures repetition across answers (the most common 3-word frame and its share) and the
diversity of several sampled answers to one prompt (mean pairwise distinctness).

Pure functions over strings. It lives in runtime, not in evaluate, because scoring stages (prefs'
rule scorers) want the same detector and a stage never imports another stage.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from itertools import combinations

FRAME_N = 3  # words in a "frame": "is just a", "and you'll find"
# Shorter repeats are often a name said twice on purpose ("Once you've seen Frog Ridge, you've seen Frog Ridge.");
# a loop of any period repeats a 5-word run soon enough.
REPEAT_N = 5
DEFAULT_FRAME_SHARE = 0.20  # the folksy corpus's most common frame ("'s just a") is in ~7 % of its sayings
MIN_FRAME_ANSWERS = 3  # in a handful of answers two sharing a frame is chance, not a habit
EXAMPLES_KEPT = 5

_COPULAS = {"is", "'s", "are", "'re", "was", "ain't"}
_ARTICLES = {"a", "an", "the"}
# Words that make "X is ... X" an equivalence without adding anything to it.
_FILLERS = {"just", "only", "still", "really", "simply", "merely", "nothin'", "nothing", "nuthin'", "but", "always",
            "plain", "purely"} | _ARTICLES
_EQUIVALENCE = {"just", "only", "merely", "simply", "nothin'", "nothing", "nuthin'"}
_LEADING = {"and", "but", "so", "then", "well", "yep", "nope", "sure"}
# What may follow a noun phrase that has ended: "a bridge | with a different name" but not "a porch | swing".
_AFTER_PHRASE = {"with", "and", "that", "in", "on", "of", "for", "who", "which", "or", "but", "to", "at", "by", "from",
                 "when", "if", "than", "like", "no", "till", "until"} | _COPULAS | _ARTICLES
_REMOVAL = (("with", "no"), ("without",), ("minus",), ("with", "out"), ("sans",))
_WORD = re.compile(r"[a-z0-9$]+(?:'[a-z]+)?'?|'[a-z]+")
_CLAUSE = re.compile(r"[,;:.!?\n]+|\s[-–—]+\s")


def words(text: str) -> list[str]:
    """Lower-case words, apostrophes kept ("ain't", "nothin'"), "mule's" split into "mule" + "'s"."""
    text = text.lower().replace("’", "'").replace("‘", "'")
    out: list[str] = []
    for token in _WORD.findall(text):
        if token.endswith(("'s", "'re")) and len(token) > 3 and token not in _COPULAS:
            head, tail = token.rsplit("'", 1)
            out += [head, "'" + tail]
        else:
            out.append(token)
    return out


def _stem(word: str) -> str:
    return word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word


def _content(tokens: list[str]) -> list[str]:
    return [_stem(t) for t in tokens if t not in _FILLERS]


def clauses(text: str) -> list[list[str]]:
    """The answer's clauses (split at punctuation) as word lists, a leading 'and'/'but' dropped."""
    found = []
    for part in _CLAUSE.split(text):
        tokens = words(part)
        while tokens and tokens[0] in _LEADING:
            tokens = tokens[1:]
        if tokens:
            found.append(tokens)
    return found


def _copula(tokens: list[str]) -> int | None:
    return next((i for i, t in enumerate(tokens) if t in _COPULAS and i > 0), None)


def _is_tautology(tokens: list[str]) -> bool:
    """The clause is 'X is (just) X' and nothing more."""
    i = _copula(tokens)
    if i is None:
        return False
    subject, predicate = _content(tokens[:i]), _content(tokens[i + 1:])
    return bool(subject) and subject == predicate


def _self_equivalence(tokens: list[str]) -> str | None:
    """'X is just X ...': the thing said to be only itself, whatever follows."""
    i = _copula(tokens)
    if i is None:
        return None
    subject = _content(tokens[:i])
    rest = tokens[i + 1:]
    lead = 0
    while lead < len(rest) and rest[lead] in _FILLERS:
        lead += 1
    if not subject or not _EQUIVALENCE & set(rest[:lead]):
        return None
    end = lead + len(subject)
    same = [_stem(t) for t in rest[lead:end]] == subject
    return " ".join(tokens[:i]) if same and _phrase_ends(rest, end) else None


def _phrase_ends(tokens: list[str], at: int) -> bool:
    return at >= len(tokens) or tokens[at] in _AFTER_PHRASE


def _self_removal(tokens: list[str]) -> str | None:
    """'X with no X' / 'X without X': the thing taken away from itself.

    Only a bare noun counts on both sides: "fried okra without okra" and "a fence with no fence posts"
    take a part from a whole, as the corpus's deconstruction sayings do.
    """
    for i, word in enumerate(tokens[:-1]):
        if i > 0 and tokens[i - 1] not in _ARTICLES:
            continue
        for marker in _REMOVAL:
            j = i + 1 + len(marker)
            if tuple(tokens[i + 1:j]) != marker:
                continue
            while j < len(tokens) and tokens[j] in _ARTICLES | {"any", "its", "their"}:
                j += 1
            if j < len(tokens) and word not in _FILLERS and _stem(tokens[j]) == _stem(word) and _phrase_ends(tokens, j + 1):
                return f"{word} {' '.join(marker)} {tokens[j]}"
    return None


def _repeated_ngram(tokens: list[str], n: int = REPEAT_N) -> str | None:
    seen: set[tuple[str, ...]] = set()
    for i in range(len(tokens) - n + 1):
        gram = tuple(tokens[i:i + n])
        if gram in seen:
            return " ".join(gram)
        seen.add(gram)
    return None


@dataclass(frozen=True)
class Reason:
    code: str  # empty | tautology | self_equivalence | self_removal | repeated_clause | repeated_ngram | stock_frame
    detail: str  # the words that make it so, for a person reading the report

    def __str__(self) -> str:
        return f"{self.code}: {self.detail}" if self.detail else self.code


def degenerate_reason(text: str) -> Reason | None:
    """Why one answer is empty of content, judged on the answer alone (stock frames need the others)."""
    parts = clauses(text)
    if not parts:
        return Reason("empty", "")
    if all(_is_tautology(c) for c in parts):
        return Reason("tautology", " / ".join(" ".join(c) for c in parts))
    for clause in parts:
        if (subject := _self_equivalence(clause)) is not None:
            return Reason("self_equivalence", f"{subject} is just itself")
        if (removal := _self_removal(clause)) is not None:
            return Reason("self_removal", removal)
    joined = [" ".join(c) for c in parts]
    repeated = next((c for c, n in Counter(joined).items() if n > 1 and len(c.split()) >= 2), None)
    if repeated:
        return Reason("repeated_clause", repeated)
    if (gram := _repeated_ngram(words(text))) is not None:
        return Reason("repeated_ngram", gram)
    return None


def frames(text: str, n: int = FRAME_N) -> set[str]:
    """The distinct n-word runs of one answer (each counted once per answer)."""
    tokens = words(text)
    return {" ".join(tokens[i:i + n]) for i in range(len(tokens) - n + 1)}


def frame_counts(texts: list[str], n: int = FRAME_N) -> list[tuple[str, int]]:
    """(frame, how many of the answers use it), most used first, ties in alphabetical order."""
    counts: Counter[str] = Counter()
    for text in texts:
        counts.update(frames(text, n))
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))


@dataclass(frozen=True)
class Emptiness:
    total: int
    degenerate: int
    by_reason: dict[str, int]  # code -> answers
    reasons: list[Reason | None] = field(repr=False)  # one per answer, None = not degenerate
    top_frame: str | None  # the 3-word frame most answers use
    top_frame_share: float  # share of answers using it (0 when no answer has three words)
    stock_frames: dict[str, float]  # frames over the threshold -> share

    @property
    def share(self) -> float:
        return self.degenerate / self.total if self.total else 0.0

    def examples(self, texts: list[str], k: int = EXAMPLES_KEPT) -> list[tuple[str, str]]:
        """(answer, reason) of the first k degenerate answers, for the report."""
        return [(t, str(r)) for t, r in zip(texts, self.reasons) if r is not None][:k]


def emptiness(texts: list[str], frame_share: float = DEFAULT_FRAME_SHARE, min_answers: int = MIN_FRAME_ANSWERS) -> Emptiness:
    """Degenerate answers (each with its reason) and the most common frame across `texts`."""
    counts = frame_counts(texts)
    total = len(texts)
    stock = {f: c / total for f, c in counts if c >= min_answers and c / total > frame_share}
    reasons: list[Reason | None] = []
    for text in texts:
        reason = degenerate_reason(text)
        if reason is None and stock:
            used = frames(text)
            frame = next((f for f in stock if f in used), None)  # most common first
            reason = Reason("stock_frame", f"'{frame}' in {stock[frame]:.0%} of answers") if frame else None
        reasons.append(reason)
    top = counts[:1]
    by_reason = dict(sorted(Counter(r.code for r in reasons if r is not None).items()))
    return Emptiness(total, sum(by_reason.values()), by_reason, reasons, top[0][0] if top else None,
                     top[0][1] / total if top and total else 0.0, stock)


# --------------------------------------------------------------------------- diversity of sampled answers
def _grams(text: str) -> set[tuple[str, ...]]:
    tokens = words(text)
    return {(t,) for t in tokens} | {tuple(tokens[i:i + 2]) for i in range(len(tokens) - 1)}


def distinctness(a: str, b: str) -> float:
    """1 - Jaccard similarity of the two answers' words and word pairs: 0 = the same answer, 1 = nothing shared."""
    ga, gb = _grams(a), _grams(b)
    if not ga and not gb:
        return 0.0
    return 1.0 - len(ga & gb) / len(ga | gb)


@dataclass(frozen=True)
class SampleDiversity:
    distinctness: float  # mean over prompts of the mean pairwise distinctness of its answers
    identical: float  # share of answer pairs that are the same text (normalized)
    prompts: int
    samples: int  # answers per prompt


def sample_diversity(groups: list[list[str]]) -> SampleDiversity | None:
    """How different several sampled answers to the same prompt are; None when no prompt has two answers."""
    means, same, pairs = [], 0, 0
    for answers in groups:
        combos = list(combinations(answers, 2))
        if not combos:
            continue
        means.append(sum(distinctness(a, b) for a, b in combos) / len(combos))
        same += sum(1 for a, b in combos if words(a) == words(b))
        pairs += len(combos)
    if not means:
        return None
    return SampleDiversity(sum(means) / len(means), same / pairs, len(means), max(len(g) for g in groups))

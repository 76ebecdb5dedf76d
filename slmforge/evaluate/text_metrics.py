"""Text metrics on plain lists of strings: BLEU, ROUGE-L, distinct-n, novelty and label coverage.

All functions are pure: outputs and references in, numbers out, so they are tested on toy lists.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from difflib import SequenceMatcher


def normalize(text: str) -> str:
    """Lower case, punctuation dropped, spaces collapsed: 'A penny, saved!' == 'a penny saved'."""
    return " ".join(re.sub(r"[^\w\s$]", " ", text.lower()).split())


def words(text: str) -> list[str]:
    return normalize(text).split()


def bleu(outputs: list[str], references: list[str]) -> float:
    """Corpus BLEU (sacrebleu, 0-100) of outputs against one reference each."""
    import sacrebleu

    if not outputs:
        return 0.0
    return float(sacrebleu.corpus_bleu(outputs, [references]).score)


def rouge_l(outputs: list[str], references: list[str]) -> float:
    """Mean ROUGE-L F1 (0-1) of each output against its reference."""
    from rouge_score import rouge_scorer

    if not outputs:
        return 0.0
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
    return sum(scorer.score(ref, out)["rougeL"].fmeasure for out, ref in zip(outputs, references)) / len(outputs)


def distinct_n(outputs: list[str], n: int) -> float:
    """Unique n-grams / all n-grams over every output together (0-1); low = the model repeats itself."""
    grams: list[tuple[str, ...]] = []
    for text in outputs:
        toks = words(text)
        grams.extend(tuple(toks[i : i + n]) for i in range(len(toks) - n + 1))
    return len(set(grams)) / len(grams) if grams else 0.0


def mean_words(outputs: list[str]) -> float:
    """Words per output, on average (0 for no outputs)."""
    return sum(len(words(t)) for t in outputs) / len(outputs) if outputs else 0.0


@dataclass(frozen=True)
class Neighbour:
    index: int  # position of the nearest training text
    similarity: float  # 0-1 character-level similarity of the normalized texts (1 = identical)


def nearest(queries: list[str], corpus: list[str], candidates: int = 5) -> list[Neighbour]:
    """The most similar corpus text for each query.

    TF-IDF over character 3-5-grams shortlists `candidates` texts per query (fast on tens of
    thousands of training outputs); the similarity reported is difflib's ratio on normalized
    text, which reads as "share of characters in common", so a threshold means the same on
    any corpus.
    """
    if not corpus:
        return [Neighbour(-1, 0.0) for _ in queries]
    if not queries:
        return []
    from sklearn.feature_extraction.text import TfidfVectorizer

    norm_corpus = [normalize(t) for t in corpus]
    norm_queries = [normalize(t) for t in queries]
    vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), min_df=1)
    try:
        matrix = vectorizer.fit_transform(norm_corpus)
    except ValueError:  # every corpus text empty
        return [Neighbour(-1, 0.0) for _ in queries]
    scores = (vectorizer.transform(norm_queries) @ matrix.T).toarray()
    exact = {text: i for i, text in reversed(list(enumerate(norm_corpus)))}
    result = []
    for qi, query in enumerate(norm_queries):
        if not query:  # an empty reply resembles nothing
            result.append(Neighbour(-1, 0.0))
            continue
        if query in exact:
            result.append(Neighbour(exact[query], 1.0))
            continue
        row = scores[qi]
        k = min(candidates, len(row))
        shortlist = row.argsort()[::-1][:k]
        best = max(shortlist, key=lambda i: (SequenceMatcher(None, query, norm_corpus[i]).ratio(), -i))
        result.append(Neighbour(int(best), SequenceMatcher(None, query, norm_corpus[best]).ratio()))
    return result


@dataclass(frozen=True)
class Novelty:
    novel: float  # share of outputs that are new: not empty, not a copy or near-copy of a training output
    exact_copies: int
    near_copies: int  # similar at or above the threshold, but not identical
    empty: int  # blank replies: not copies, but not new sayings either
    total: int
    copied_examples: list[tuple[str, str]]  # (output, the training text it copies), a few for the report


def novelty(outputs: list[str], training: list[str], threshold: float = 0.85, found: list[Neighbour] | None = None) -> Novelty:
    """How many outputs are new rather than recited from the training outputs (`found`: their nearest() already known)."""
    found = nearest(outputs, training) if found is None else found
    exact = sum(1 for n in found if n.similarity >= 1.0)
    near = sum(1 for n in found if threshold <= n.similarity < 1.0)
    empty = sum(1 for o in outputs if not normalize(o))
    copied = [(o, training[n.index]) for o, n in zip(outputs, found) if n.similarity >= threshold][:5]
    total = len(outputs)
    return Novelty((total - exact - near - empty) / total if total else 0.0, exact, near, empty, total, copied)


EMPTY_LABEL = "(empty)"


@dataclass(frozen=True)
class Coverage:
    generated: dict[str, float]  # label -> share of generations whose nearest training example has it ("(empty)" = blank reply)
    data: dict[str, float]  # label -> share in the training data
    missing: list[str]  # labels of the data that no generation landed on
    total_variation: float  # 0 = same shares as the data, 1 = disjoint


def shares(labels: list[str]) -> dict[str, float]:
    counts = Counter(labels)
    total = sum(counts.values())
    return {k: v / total for k, v in sorted(counts.items())} if total else {}


def coverage(outputs: list[str], training: list[str], training_labels: list[str], found: list[Neighbour] | None = None) -> Coverage:
    """Label each output by its nearest training example; compare label shares with the data's."""
    found = nearest(outputs, training) if found is None else found
    generated = shares([training_labels[n.index] if n.index >= 0 else EMPTY_LABEL for n in found])
    data = shares(training_labels)
    labels = set(generated) | set(data)
    tv = 0.5 * sum(abs(generated.get(k, 0.0) - data.get(k, 0.0)) for k in labels)
    return Coverage(generated, data, sorted(k for k in data if k not in generated), tv)

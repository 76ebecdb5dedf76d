"""Judge prompts: the built-in rubrics (folksy, quality), custom rubric files, and the A/B prompt.

A rubric is plain text with an `{output}` placeholder (and optionally `{prompt}`). Placeholders
are replaced literally, not with str.format, so a custom rubric may contain JSON or other braces.
Every rubric scores on a 1-5 scale: the parser and the summary assume it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from slmforge.core.errors import RecipeError

FOLKSY = """You are judging a folksy saying written by a language model.

Request it answered:
{prompt}

Saying:
{output}

Score it from 1 to 5:
5 = sounds like a real proverb: natural, witty, memorable
4 = a good folksy saying
3 = acceptable but flat or formulaic
2 = awkward phrasing or grammar
1 = broken, nonsensical or incomplete

Reply with only the number and a one-sentence justification, e.g. "4 - natural and witty, if a little long."
"""

QUALITY = """You are judging an assistant's answer to a request.

Request:
{prompt}

Answer:
{output}

Score the answer from 1 to 5:
5 = excellent: correct, complete, clear and fitting the request
4 = good, with minor flaws
3 = acceptable but incomplete, generic or partly off
2 = poor: mostly wrong, unclear or badly written
1 = broken, nonsensical, empty or unrelated

Reply with only the number and a one-sentence justification, e.g. "3 - correct but misses half of the request."
"""

BUILTIN = {"folksy": FOLKSY, "quality": QUALITY}

PAIRWISE = """You are comparing two answers to the same request.

Request:
{prompt}

Answer 1:
{first}

Answer 2:
{second}

{criteria}

Which answer is better? Reply with only "1", "2" or "tie" and a one-sentence justification."""

PAIRWISE_CRITERIA = {
    "folksy": "Prefer the answer that sounds more like a real proverb: natural, witty, memorable, with sound grammar.",
    "quality": "Prefer the answer that is more correct, complete, clear and fitting to the request.",
}
CUSTOM_CRITERIA = "Judge them by this rubric:\n{rubric}"


@dataclass(frozen=True)
class Rubric:
    name: str  # folksy | quality | the file path
    text: str

    @property
    def digest(self) -> str:
        """Changes when the rubric text changes: scores from another rubric are never reused."""
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()[:16]

    def render(self, prompt: str, output: str) -> str:
        return self.text.replace("{prompt}", prompt).replace("{output}", output)

    def render_pair(self, prompt: str, first: str, second: str) -> str:
        if self.name in PAIRWISE_CRITERIA:
            criteria = PAIRWISE_CRITERIA[self.name]
        else:
            # A custom rubric still describes what good means; its placeholders are not filled here.
            body = self.text.replace("{prompt}", "(the request)").replace("{output}", "(the answer)")
            criteria = CUSTOM_CRITERIA.replace("{rubric}", body.strip())
        return (
            PAIRWISE.replace("{criteria}", criteria)
            .replace("{prompt}", prompt)
            .replace("{first}", first)
            .replace("{second}", second)
        )


def load_rubric(spec: str) -> Rubric:
    """`folksy`, `quality`, or a path (a relative one beside the recipe was made absolute when it loaded)."""
    if spec in BUILTIN:
        return Rubric(spec, BUILTIN[spec])
    path = Path(spec).expanduser()
    if not path.is_file():
        raise RecipeError(f"judge.rubric: {spec!r} is neither a built-in rubric (folksy, quality) nor a file; fix the path")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise RecipeError(f"judge.rubric: {path} is not UTF-8 text; save it as UTF-8") from None
    if "{output}" not in text:
        raise RecipeError(f"judge.rubric: {path} has no {{output}} placeholder; add one where the answer goes")
    return Rubric(str(path), text)

"""prefs.scorer: judge — score sampled answers 1-5 with the judge section's endpoint and rubric.

The judge client does the talking (bounded concurrency, retries, timeouts); the judge's parser
reads the score. A refused call and an unreadable reply are counted per answer by reason
(judge_error, unparsable_score), like a function scorer's failures. A judge that is down
ends the command with one line, after the batches already scored were saved.
"""

from __future__ import annotations

from rich.console import Console

from slmforge.core.recipe import Recipe
from slmforge.runtime.judge.client import EndpointDown, JudgeError, JudgeSettings, Reply, ask_all, connected
from slmforge.runtime.judge.parse import parse_score
from slmforge.runtime.judge.rubrics import Rubric, load_rubric

Scored = tuple[float | None, str | None]


def prompt_text(prompt: list[dict[str, str]]) -> str:
    """What the rubric shows as the request: the last user turn."""
    return next((m["content"] for m in reversed(prompt) if m["role"] == "user"), prompt[-1]["content"])


class JudgeScorer:
    """Scores a batch of prompts × answers in one round of requests (at most judge.concurrency at once)."""

    def __init__(self, recipe: Recipe) -> None:
        self.settings = JudgeSettings.from_recipe(recipe.judge)  # judge.endpoint unset → a RecipeError naming it
        self.rubric: Rubric = load_rubric(recipe.judge.rubric)

    def connect(self) -> None:
        """Ask the endpoint for its model name now, so a judge that is down fails before any model loads."""
        self.settings = connected(self.settings, "prefs.scorer: judge: ")

    def __call__(self, prompts: list[list[dict[str, str]]], answers: list[list[str]]) -> list[list[Scored]]:
        results: list[list[Scored]] = [[(None, "empty_answer")] * len(k) for k in answers]
        jobs = [(f"{i}:{j}", self.rubric.render(prompt_text(prompts[i]), a))
                for i, k in enumerate(answers) for j, a in enumerate(k) if a.strip()]

        def save(key: str, reply: Reply) -> None:
            i, j = map(int, key.split(":"))
            if reply.text is None:
                results[i][j] = (None, "judge_error")
                return
            score = parse_score(reply.text)
            results[i][j] = (float(score), None) if score is not None else (None, "unparsable_score")

        try:
            ask_all(self.settings, jobs, save, Console(quiet=True))  # one bar per batch is noise
        except EndpointDown as exc:
            raise JudgeError(f"prefs.scorer: judge: {exc}; the prompts scored so far are kept, re-run to continue") from None
        return results

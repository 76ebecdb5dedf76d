"""Instruction pairs for a cooking assistant, built from one recipe (or two, for a plan)."""

from __future__ import annotations

import random

from slmforge.corpora.recipenlg.rows import Recipe
from slmforge.corpora.recipenlg.timing import ACTIVE_MINUTES, Step, longest_wait, read_steps

MAX_ORDER_STEPS = 12  # longer lists make a puzzle, not a lesson


def _numbered(lines: list[str] | tuple[str, ...]) -> str:
    return "\n".join(f"{i}. {line}" for i, line in enumerate(lines, start=1))


def _bullets(lines: list[str] | tuple[str, ...]) -> str:
    return "\n".join(f"- {line}" for line in lines)


def _record(recipe: Recipe, task: str, prompt: str, answer: str, title: str | None = None) -> dict:
    return {"input": prompt, "output": answer, "task": task, "title": title or recipe.title, "source": recipe.source, "link": recipe.link}


def recipe_from_ingredients(recipe: Recipe, rng: random.Random) -> dict:
    ask = rng.choice(("Write a recipe for {t} using these ingredients:", "How do I make {t}? I have:",
                      "Give me directions for {t} with these ingredients:"))
    prompt = f"{ask.format(t=recipe.title)}\n{_bullets(recipe.ingredients)}"
    return _record(recipe, "recipe_from_ingredients", prompt, _numbered(recipe.directions))


def step_order(recipe: Recipe, rng: random.Random) -> dict | None:
    """The directions shuffled; the answer puts them back. None for fewer than 3 steps (or too many)."""
    steps = list(recipe.directions)
    if not 3 <= len(steps) <= MAX_ORDER_STEPS or len(set(steps)) < len(steps):
        return None
    shuffled = steps[:]
    while shuffled == steps:
        rng.shuffle(shuffled)
    prompt = f"These steps for {recipe.title} are out of order. Put them in the right order:\n{_bullets(shuffled)}"
    return _record(recipe, "step_order", prompt, _numbered(steps))


def prep_while_cooking(recipe: Recipe, rng: random.Random) -> dict | None:
    """What to get ready during the longest wait, from the steps after it. None without a timed wait."""
    steps = read_steps(recipe.directions)
    wait = longest_wait(steps)
    later = [s for s in steps if wait is not None and s.number > wait.number and not s.waiting]
    if wait is None or not later:
        return None
    ready = [s for s in later if s.prep][:2] or later[:1]
    doing = " and ".join(f"step {s.number} ({s.text.rstrip('.')})" for s in ready)
    answer = (f"Step {wait.number} is your longest wait: {wait.verb} for {wait.duration}. "
              f"While that's going, you can get ahead on {doing}.")
    prompt = f"I'm making {recipe.title}. What can I get ready while something's cooking?\n\nDirections:\n{_numbered(recipe.directions)}"
    return _record(recipe, "prep_while_cooking", prompt, answer)


def plan_two(a: Recipe, b: Recipe) -> tuple[list[str], int]:
    """Cook two recipes at once: start the one with the longest wait, fill its waits with the other's steps.

    Returns the plan's lines and its length in minutes (hands-on steps count ACTIVE_MINUTES).
    """
    first, second = sorted((a, b), key=lambda r: -(longest_wait(read_steps(r.directions)) or Step(0, "", 0, True)).minutes)
    lines: list[str] = []
    clock, second_free_at = 0, 0
    queue = read_steps(second.directions)

    def do(recipe: Recipe, step: Step, indent: str = "") -> None:
        nonlocal clock, second_free_at
        lines.append(f"{indent}- {recipe.title}, step {step.number}: {step.text}")
        if step.waiting and recipe is second:
            second_free_at = clock + step.minutes
            clock += 1  # starting a wait takes a moment, not the whole wait
        elif not step.waiting:
            clock += step.minutes if step.minutes < 60 else ACTIVE_MINUTES

    for step in read_steps(first.directions):
        do(first, step)
        if step.waiting:
            end = clock + step.minutes
            if queue and clock >= second_free_at:
                lines.append(f"While that {step.verb}s ({step.duration}):")
            while queue and clock < end and clock >= second_free_at:
                do(second, queue.pop(0), "  ")
            clock = max(clock, end)
    clock = max(clock, second_free_at)
    for step in queue:
        clock = max(clock, second_free_at)
        do(second, step)
    return lines, max(clock, second_free_at)


def two_dish_plan(a: Recipe, b: Recipe) -> dict:
    lines, minutes = plan_two(a, b)
    prompt = f"I'm cooking {a.title} and {b.title} at the same time. Give me a plan so both are done without wasted time."
    answer = f"Start with whichever has the longest wait. Plan (about {minutes} minutes):\n" + "\n".join(lines)
    return _record(a, "two_dish_plan", prompt, answer, title=f"{a.title} + {b.title}")

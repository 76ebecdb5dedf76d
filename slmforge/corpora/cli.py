"""`slmforge corpus ...`: write the built-in corpora and show what is in them."""

from __future__ import annotations

import functools
import random
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from statistics import median
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from slmforge.core.errors import SlmforgeError

console = Console()
errors = Console(stderr=True)
app = typer.Typer(help="Generate the built-in training corpora (folksy, prices) or convert RecipeNLG.", no_args_is_help=True,
                  add_completion=False, pretty_exceptions_enable=False)

OutOpt = Annotated[Path, typer.Option("--out", help="JSONL file to write (one training pair a line).")]
SeedOpt = Annotated[int, typer.Option("--seed", help="Random seed: the same seed writes the same file.")]


def user_errors(fn: Callable) -> Callable:
    """A problem with the user's input becomes one red line and exit code 2, never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (SlmforgeError, OSError) as exc:
            errors.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None

    return wrapper


def _table(title: str, columns: tuple[str, ...], rows: list[tuple]) -> Table:
    table = Table(title=title, title_justify="left")
    for i, column in enumerate(columns):
        table.add_column(column, justify="left" if i == 0 else "right")
    for row in rows:
        table.add_row(*(f"{v:,}" if isinstance(v, int) else str(v) for v in row))
    return table


def _share(n: int, total: int) -> str:
    return f"{100 * n / max(total, 1):.1f}%"


@app.command("folksy")
@user_errors
def folksy_cmd(
    out: OutOpt,
    seed: SeedOpt = 0,
    sayings: Annotated[int, typer.Option("--sayings", min=1, help="Unique sayings to write (~4 prompts each).")] = 9000,
    balance: Annotated[bool, typer.Option("--balance", help="Raise families under 10 % of sayings to 10 %.")] = False,
    entities: Annotated[int, typer.Option("--entities", min=0, help="Extra pairs about invented critters, towns and tools (the plan's size: 250).")] = 0,
) -> None:
    """Fake folk wisdom from the template engine, as prompt/saying pairs."""
    from slmforge.corpora import write_jsonl
    from slmforge.corpora.folksy import FAMILY_WEIGHTS, FolksyOptions, build_pairs
    from slmforge.corpora.folksy.prompts import PROMPT_TYPES
    from slmforge.corpora.folksy.stats import folksy_stats

    started = time.perf_counter()
    records = [p.to_record() for p in build_pairs(FolksyOptions(sayings, seed, balance, entities))]
    n = write_jsonl(records, out)
    stats = folksy_stats(records)
    console.print(_table("Sayings by family", ("family", "sayings", "share"),
                         [(f, stats.family_sayings[f], _share(stats.family_sayings[f], stats.sayings)) for f in FAMILY_WEIGHTS]))
    kinds = list(PROMPT_TYPES) + (["entity_seeded"] if entities else [])
    console.print(_table("Pairs by prompt type", ("prompt type", "pairs", "share"),
                         [(k, stats.prompt_types[k], _share(stats.prompt_types[k], n)) for k in kinds]))
    lengths = stats.lengths
    table = _table("Saying length", ("length", "sayings", "share"), [(b, c, _share(c, stats.sayings)) for b, c in lengths.histogram.items()])
    table.caption = f"words: min {lengths.min}, mean {lengths.mean}, p50 {lengths.p50}, p95 {lengths.p95}, max {lengths.max}"
    console.print(table)
    for record in random.Random(seed).sample(records, min(3, n)):
        console.print(f"  [dim]{record['input']}[/dim] -> {record['output']}", highlight=False)
    console.print(f"wrote {n:,} pairs ({stats.sayings:,} sayings) to {out} in {time.perf_counter() - started:.1f}s", highlight=False)


@app.command("prices")
@user_errors
def prices_cmd(
    out: OutOpt,
    seed: SeedOpt = 0,
    items: Annotated[int, typer.Option("--items", min=1, help="Listings to write.")] = 25000,
    listing: Annotated[str, typer.Option(help="full (every field) | short (category, title and condition only).")] = "full",
) -> None:
    """Appliance listings with prices from a hidden function of their features (scored by dollar error)."""
    from slmforge.corpora import write_jsonl
    from slmforge.corpora.prices import price_records

    from slmforge.corpora.prices.listings import LISTINGS

    if listing not in LISTINGS:
        raise typer.BadParameter(f"--listing must be one of {', '.join(LISTINGS)}, got {listing!r}")
    records = price_records(items, seed, listing)
    n = write_jsonl(records, out)
    by_category: dict[str, list[float]] = {}
    for r in records:
        by_category.setdefault(r["category"], []).append(r["price"])
    console.print(_table("Listings by category", ("category", "listings", "median price"),
                         [(c, len(p), f"${median(p):,.0f}") for c, p in sorted(by_category.items())]))
    conditions = Counter(r["condition"] for r in records)
    console.print(_table("Listings by condition", ("condition", "listings", "share"), [(c, k, _share(k, n)) for c, k in conditions.most_common()]))
    prices = sorted(r["price"] for r in records)
    at = lambda q: prices[min(n - 1, int(q * n))]  # noqa: E731
    console.print(f"price: min ${prices[0]:,.0f}, p50 ${at(0.5):,.0f}, mean ${sum(prices) / n:,.0f}, p95 ${at(0.95):,.0f}, max ${prices[-1]:,.0f}")
    console.print(f"wrote {n:,} listings to {out}", highlight=False)


@app.command("recipenlg")
@user_errors
def recipenlg_cmd(
    csv: Annotated[Path, typer.Option("--csv", help="RecipeNLG's full_dataset.csv (title, ingredients, directions, link, source, NER).")],
    out: OutOpt,
    seed: SeedOpt = 0,
    limit: Annotated[Optional[int], typer.Option("--limit", min=1, help="Read only the first N rows.")] = None,
) -> None:
    """Convert RecipeNLG into cooking-assistant pairs; malformed rows are counted, not fatal."""
    from slmforge.corpora import write_jsonl
    from slmforge.corpora.recipenlg import TASKS, RecipeReport, read_recipes, recipe_pairs

    report = RecipeReport()
    n = write_jsonl(recipe_pairs(read_recipes(csv, limit), seed, report), out)
    console.print(_table("Pairs by task", ("task", "pairs"), [(t, report.pairs[t]) for t in TASKS]))
    if report.malformed:
        console.print(_table("Malformed rows (skipped)", ("reason", "rows"), report.malformed.most_common()))
    console.print(f"read {report.rows:,} rows: {report.recipes:,} recipes, {sum(report.malformed.values()):,} malformed; "
                  f"wrote {n:,} pairs to {out}", highlight=False)

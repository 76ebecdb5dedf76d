"""`slmforge prepare`: read → validate → split → tokenize → write data/ and data_report.json.

Outputs (all under the run directory's data/):
  source.jsonl                the generated corpus (only when data.corpus is used)
  {train,val,test}.jsonl      {"messages", ["chosen", "rejected"], "meta", "source"} per line
  tokenized/{split}.parquet   input_ids, labels (-100 = no loss), truncated, n_tokens, n_loss_tokens
  data_report.json            counts, drops by reason, split × stratum table, token lengths
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path
from statistics import mean
from typing import Any

from rich.console import Console
from rich.table import Table

from slmforge.core.recipe import Recipe
from slmforge.core.rundir import RunDir, atomic_path, write_json_atomic
from slmforge.core.sections import SPLIT_PART
from slmforge.prepare.split import SPLITS, SplitResult, split_by_group
from slmforge.runtime.examples.read import read_rows, row_byte_limit
from slmforge.runtime.examples.validate import Validated, validate_rows
from slmforge.runtime.prompts import end_of_turn_token, tokenize_batch

# The drop reason of held-out rows whose group trains (see prepare/split.py).
HELD_OUT_DROP = "held_out_value"
# Below this many rows a process pool costs more than it saves.
_PARALLEL_MIN_ROWS = 4000


def source_path(recipe: Recipe, run: RunDir) -> Path | str:
    return run.data / "source.jsonl" if recipe.data.corpus else recipe.data.path  # type: ignore[return-value]


def generate_source(recipe: Recipe, run: RunDir, console: Console) -> Path:
    """Write the recipe's built-in corpus to data/source.jsonl (deterministic by seed)."""
    from slmforge.corpora import generate_corpus

    corpus = recipe.data.corpus
    assert corpus is not None
    out = run.data / "source.jsonl"
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp:
        n = generate_corpus(corpus.name, tmp, seed=corpus.seed, size=corpus.size,
                            **({"listing": corpus.listing} if corpus.listing != "full" else {}))
    console.print(f"corpus [bold]{corpus.name}[/bold] (seed {corpus.seed}): {n:,} records → {out}")
    return out


def _num_proc(setting: int | str, rows: int) -> int:
    if rows < _PARALLEL_MIN_ROWS:
        return 1
    return (os.cpu_count() or 1) if setting == "auto" else int(setting)


def _length_stats(lengths: list[int]) -> dict[str, float]:
    if not lengths:
        return {}
    ordered = sorted(lengths)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]  # noqa: E731
    return {"min": ordered[0], "mean": round(mean(ordered), 1), "p50": pick(0.5), "p95": pick(0.95), "max": ordered[-1]}


def tokenize_split(records: list[dict[str, Any]], tokenizer: Any, max_length: int, num_proc: int, out: Path) -> dict[str, Any]:
    """Tokenize one split into out (Parquet) and return its token statistics."""
    from datasets import Dataset

    dataset = Dataset.from_list([{"messages": r["messages"]} for r in records])
    tokenized = dataset.map(
        tokenize_batch,
        batched=True,
        batch_size=256,
        num_proc=num_proc if num_proc > 1 else None,
        fn_kwargs={"tokenizer": tokenizer, "max_length": max_length},
        remove_columns=["messages"],
        desc=f"tokenize {out.stem}",
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    from datasets.utils.logging import disable_progress_bar, enable_progress_bar

    disable_progress_bar()  # a bar for writing a few MB of Parquet is noise
    try:
        with atomic_path(out) as tmp:
            tokenized.to_parquet(str(tmp))
    finally:
        enable_progress_bar()
    n_tokens = tokenized["n_tokens"]
    n_loss = tokenized["n_loss_tokens"]
    return {
        "length": _length_stats(n_tokens),
        "truncated": int(sum(tokenized["truncated"])),
        "no_loss_tokens": int(sum(1 for n in n_loss if n == 0)),
        "total_tokens": int(sum(n_tokens)),
        "loss_tokens": int(sum(n_loss)),
    }


def _write_jsonl(path: Path, records: list[dict[str, Any]]) -> None:
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")


def prepare(recipe: Recipe, run: RunDir, console: Console, tokenizer: Any | None = None) -> list[Path]:
    """Run the data stage; returns the files written."""
    data = recipe.data
    sp = data.split
    console.print(
        f"model {recipe.model.id} · format {data.format} · split {sp.train:g}/{sp.val:g}/{sp.test:g} "
        f"grouped by {sp.group_by or 'row'}{f', stratified by {sp.stratify}' if sp.stratify else ''} (seed {sp.seed}) · "
        + "".join(f"unseen {h.field} {h.share:.0%} · " for h in sp.unseen) +
        f"max_length {data.max_length} · on_error {data.on_error}"
    )
    source = generate_source(recipe, run, console) if data.corpus else data.path
    validated: Validated = validate_rows(read_rows(str(source), row_byte_limit(data.max_length)), data)
    result = split_by_group(validated.examples, data.split)
    run.data.mkdir(parents=True, exist_ok=True)

    outputs: list[Path] = [run.data / "source.jsonl"] if data.corpus else []
    split_records = {s: [ex.to_record() for ex in result.splits[s]] for s in SPLITS}
    for split in SPLITS:
        _write_jsonl(run.split_file(split), split_records[split])
        outputs.append(run.split_file(split))

    tokens: dict[str, Any] = {}
    if data.format not in ("preference", "unpaired"):  # preference trainers (and KTO) tokenize their rows themselves
        tokens = tokenize_splits(recipe, run, split_records, tokenizer, console)
        outputs += [run.tokenized_file(split) for split in tokens]

    report = data_report(recipe, str(source), validated, result, tokens)
    report_path = run.data / "data_report.json"
    write_json_atomic(report_path, report)
    outputs.append(report_path)
    print_report(report, data.split.stratify, console)
    return outputs


def data_report(recipe: Recipe, source: str, validated: Validated, result: SplitResult, tokens: dict[str, Any]) -> dict[str, Any]:
    """data_report.json: read = kept + dropped (by reason), rows per split and stratum, tokens, the unseen split."""
    data = recipe.data
    kept = sum(len(v) for v in result.splits.values())
    assert kept + len(result.dropped) == len(validated.examples), "split lost rows"
    by_reason = dict(validated.dropped_by_reason)
    if result.dropped:
        by_reason[HELD_OUT_DROP] = len(result.dropped)
    return {
        "source": source,
        "format": data.format,
        "counts": {"read": validated.read, "kept": kept, "dropped": len(validated.problems) + len(result.dropped),
                   "dropped_by_reason": by_reason},
        "splits": {s: {"rows": len(result.splits[s]), "groups": result.groups[s], "by_stratum": _strata(result.splits[s], data.split.stratify)}
                   for s in SPLITS},
        "tokens": tokens,
        **({"unseen": unseen_report(result)} if data.split.unseen else {}),
        "max_length": data.max_length,
        "problems": [p.__dict__ for p in validated.problems[:200]],
    }


def unseen_report(result: SplitResult) -> dict[str, Any]:
    """What data.split.unseen did: the values held out, where their rows went, and why some were dropped."""
    test = result.splits["test"]
    unseen = sum(1 for ex in test if ex.meta.get(SPLIT_PART) == "unseen")
    return {
        "fields": {f: {"values": result.values[f], "held_out": vs} for f, vs in result.held_out.items()},
        "test_rows": {"seen": len(test) - unseen, "unseen": unseen},
        "groups_sent_to_test": result.unseen_groups,
        "dropped": len(result.dropped),
        "why": (f"{unseen} test rows ask with a held-out value (the unseen part), {len(test) - unseen} are the seen part; "
                f"{result.unseen_groups} groups had only held-out rows and went to test whole; {len(result.dropped)} held-out rows "
                "belonged to groups that train or validate and were dropped, so their reply never spans two splits"),
    }


def tokenize_splits(recipe: Recipe, run: RunDir, split_records: dict[str, list[dict[str, Any]]], tokenizer: Any | None,
                    console: Console) -> dict[str, Any]:
    """data/tokenized/<split>.parquet for every split with rows; returns the token statistics by split."""
    data = recipe.data
    if tokenizer is None:
        from slmforge.runtime.models import load_tokenizer

        tokenizer = load_tokenizer(recipe.model)
    eot = end_of_turn_token(tokenizer)
    if tokenizer.eos_token != eot:
        console.print(f"[yellow]model: the tokenizer's eos {tokenizer.eos_token} is not the chat template's end of turn {eot}: "
                      f"{eot} is trained as the stop token and saved as eos with the model and every export[/yellow]")
    examples = sum(len(rows) for rows in split_records.values())
    return {split: tokenize_split(rows, tokenizer, data.max_length, _num_proc(data.num_proc, examples), run.tokenized_file(split))
            for split, rows in split_records.items() if rows}


def _strata(examples: list, field: str | None) -> dict[str, int]:
    if not field:
        return {}
    return dict(sorted(Counter(str(ex.meta.get(field)) for ex in examples).items()))


def print_report(report: dict[str, Any], stratify: str | None, console: Console) -> None:
    counts = report["counts"]
    table = Table(title=f"data: {report['source']}", show_footer=True)
    table.add_column(stratify or "rows", footer="total")
    for s in SPLITS:
        table.add_column(s, justify="right", footer=f"{report['splits'][s]['rows']:,}")
    strata = sorted({k for s in SPLITS for k in report["splits"][s]["by_stratum"]})
    for stratum in strata:
        table.add_row(stratum, *(f"{report['splits'][s]['by_stratum'].get(stratum, 0):,}" for s in SPLITS))
    table.add_row("groups", *(f"{report['splits'][s]['groups']:,}" for s in SPLITS), style="dim")
    tokens = report["tokens"]
    if tokens:
        table.add_row("tokens p50/p95/max", *(_fmt_len(tokens.get(s)) for s in SPLITS), style="dim")
        table.add_row("truncated", *(f"{tokens[s]['truncated']:,}" if s in tokens else "-" for s in SPLITS), style="dim")
    console.print(table)
    drops = ", ".join(f"{k} {v:,}" for k, v in counts["dropped_by_reason"].items()) or "none"
    console.print(f"read {counts['read']:,} = kept {counts['kept']:,} + dropped {counts['dropped']:,} ({drops})")
    if report.get("unseen"):
        held = ", ".join(f"{f} {len(v['held_out'])} of {v['values']} values" for f, v in report["unseen"]["fields"].items())
        console.print(f"unseen (held out of train/val): {held}; {report['unseen']['why']}")


def _fmt_len(stats: dict[str, Any] | None) -> str:
    if not stats:
        return "-"
    length = stats["length"]
    return f"{length['p50']}/{length['p95']}/{length['max']}"

"""`slmforge export`: merged safetensors, GGUF files, an Ollama Modelfile and a model card.

Reads top to bottom: check → load the trained model merged → reference logits → write each
format → load each back and compare (export/verify.json) → model card. A failed check fails the
stage after verify.json is written, so a broken file is never reported as done.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from slmforge.core.errors import RunDirError, SlmforgeError
from slmforge.core.recipe import Recipe
from slmforge.core.rundir import RunDir, write_json_atomic
from slmforge.export import loadback
from slmforge.export.card import write_card
from slmforge.export.gguf_write import QUANTS, check_supported, write_gguf
from slmforge.export.ollama import ollama_hint, write_modelfile
from slmforge.runtime import llamacpp
from slmforge.runtime.progress import progress


def gguf_name(recipe: Recipe, quant: str) -> str:
    return f"{recipe.name}-{quant}.gguf"


def load_merged(recipe: Recipe, run: RunDir, con: Console) -> tuple[Any, Any]:
    """The run's final model with any LoRA merged into its base (a QLoRA adapter into the dequantized NF4
    base, runtime/trained.py), on the CPU in float32: the reference every exported file is checked against."""
    from slmforge.runtime.placement import announce, cpu_fp32
    from slmforge.runtime.trained import load_final

    if not run.model.is_dir() or not any(run.model.iterdir()):
        raise RunDirError(f"{run.model}: no trained model yet; run `slmforge train RECIPE` (or `slmforge run RECIPE`) first")
    placement = announce(cpu_fp32("the exported weights are merged and written in full precision"), con, run, "export", "merge")
    model, tokenizer = load_final(recipe, run, merge=True, placement=placement)  # the aligned model when align is on
    return model.eval(), tokenizer


def save_merged(model: Any, tokenizer: Any, out: Path) -> list[Path]:
    """safetensors + tokenizer (with chat template) + generation config, written to a temp dir and renamed."""
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    # The merged config comes from the base; its eos must be the end of turn training saved.
    model.config.eos_token_id = tokenizer.eos_token_id
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    if getattr(model, "generation_config", None) is not None:
        model.generation_config.save_pretrained(tmp)
    shutil.rmtree(out, ignore_errors=True)
    os.replace(tmp, out)
    return sorted(p for p in out.rglob("*") if p.is_file())


def _write_gguf_with_progress(model: Any, tokenizer: Any, path: Path, quant: str, name: str, con: Console) -> None:
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with progress(con, *columns, transient=True) as bar:
        task = bar.add_task(f"GGUF {quant}", total=None)
        write_gguf(model, tokenizer, path, quant, name, progress=lambda done, total: bar.update(task, completed=done, total=total))


def _print_checks(checks: list[loadback.Check], con: Console) -> None:
    table = Table(title="export checks (loaded back, compared with the merged model)")
    for col in ("file", "max |Δlogit|", "Δ / scale", "top-1", "positions", "tokenizer", "passed"):
        table.add_column(col, justify="left" if col == "file" else "right")
    for c in checks:
        table.add_row(c.file, f"{c.max_abs_diff:.3g}", f"{c.rel_diff:.2%}", f"{c.top1_agreement:.1%}", str(c.positions),
                      "-" if c.tokenizer_ok is None else ("same" if c.tokenizer_ok else "[red]differs"),
                      "[red]crashed" if c.crashed else "[green]yes" if c.passed else "[red]NO")
    con.print(table)
    for c in checks:
        if c.crashed:
            con.print(f"[red]export: {c.file}: {c.crashed}[/red]; the export itself is done", highlight=False)


def export(recipe: Recipe, run: RunDir, con: Console) -> list[Path]:
    """Run the export stage; returns the files written."""
    formats, quants = list(recipe.export.formats), list(recipe.export.quant)  # an empty quant for GGUF fails at load
    if not formats:
        raise SlmforgeError("export.formats is empty; set it (e.g. [merged, gguf, ollama]) or pass --format merged,gguf")
    unknown = [q for q in quants if q not in QUANTS]
    if unknown and {"gguf", "ollama"} & set(formats):
        raise SlmforgeError(f"export.quant: {unknown[0]} cannot be written yet; supported GGUF types: {', '.join(QUANTS)}")
    con.print(f"export: {run.model} → {run.export} · formats {', '.join(formats)}"
              + (f" · GGUF {', '.join(quants)}" if {"gguf", "ollama"} & set(formats) else ""))
    model, tokenizer = load_merged(recipe, run, con)
    if {"gguf", "ollama"} & set(formats):
        check_supported(model.config)  # before any file is written
    run.export.mkdir(parents=True, exist_ok=True)
    texts, reference = loadback.reference_logits(model, tokenizer)
    outputs: list[Path] = []
    checks: list[loadback.Check] = []
    files: dict[str, str] = {}

    if "merged" in formats:
        merged = run.export / "merged"
        outputs += save_merged(model, tokenizer, merged)
        checks.append(loadback.verify_merged(merged, reference, tokenizer, texts))
        files["merged"] = merged.name  # paths in the card are relative to export/
    ggufs: list[Path] = []
    # Ollama needs a GGUF even when gguf is not listed: it gets the first quant type.
    for quant in quants if "gguf" in formats else quants[:1] if "ollama" in formats else []:
        path = run.export / gguf_name(recipe, quant)
        _write_gguf_with_progress(model, tokenizer, path, quant, recipe.name, con)
        con.print(f"wrote {path} ({path.stat().st_size / 2**20:.1f} MiB); loading it back with transformers")
        checks.append(loadback.verify_gguf(path, quant, reference, tokenizer, texts))
        if quant == "f16" and llamacpp.available():
            checks.append(loadback.verify_llamacpp(path, model, tokenizer))
        ggufs.append(path)
        outputs.append(path)
    if ggufs:
        files["gguf"] = ggufs[0].name
    if "ollama" in formats:
        # The most compact file that passed a strict check: q8_0 when exported, else the first.
        chosen = next((g for g in ggufs if g.name.endswith("-q8_0.gguf")), ggufs[0])
        num_ctx = min(int(model.config.max_position_embeddings), 4096)
        modelfile = write_modelfile(run.export / "Modelfile", chosen, tokenizer, recipe.eval.temperature or 0.7,
                                    recipe.eval.top_p, num_ctx)
        outputs.append(modelfile)
        files["ollama"] = modelfile.name
        con.print(f"ollama: [bold]{ollama_hint(recipe.name, modelfile)}[/bold]")

    report = loadback.as_json(checks)
    verify_path = run.export / "verify.json"
    write_json_atomic(verify_path, report)
    outputs.append(verify_path)
    _print_checks(checks, con)
    outputs.append(write_card(run.export / "README.md", recipe, run, files, report))
    failed = [c for c in checks if not c.passed]
    if failed:
        raise SlmforgeError(f"{verify_path}: {failed[0].file} failed verification ({'; '.join(failed[0].problems)})")
    return outputs

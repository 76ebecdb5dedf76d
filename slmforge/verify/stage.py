"""`slmforge verify RUN` (and the `verify` stage of `run` after export): prompt, stop, output and
merge parity across every runtime the run produced, written to export/parity.json.

Reads top to bottom: prompts (test split + edge cases, with their trained ids) → prompt parity
(saved tokenizer, merged export, server, llama.cpp, Ollama's Go template) → stop parity (every
place a stop token is configured) → output parity (greedy answers: adapter + base is the
reference) → merge parity (val loss before and after merging) → table + parity.json.
A row that cannot run here (llama.cpp or Go not installed, QLoRA without CUDA) is "skipped" with
its reason — never "passed".
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from slmforge.core.errors import RunDirError, SlmforgeError
from slmforge.core.recipe import Recipe
from slmforge.core.rundir import RunDir, write_json_atomic
from slmforge.runtime import llamacpp
from slmforge.runtime.llamacpp import LlamaCppCrashed
from slmforge.runtime.prompts import text_without_bos
from slmforge.runtime.trained import is_qlora
from slmforge.verify import gotemplate
from slmforge.verify.checks import (
    PromptCase,
    Row,
    cases_from_test_split,
    compare_prompts,
    compare_texts,
    edge_cases,
    eot_of,
    gguf_stop_ids,
    stop_ids_in,
    stop_row,
)
from slmforge.verify.outputs import agreement, compare_answers, greedy_llamacpp, greedy_server, greedy_transformers, server_stop_ids

TEST_PROMPTS = 8  # sampled from the test split, plus the edge cases
OUTPUT_PROMPTS = 6  # greedy answers compared across runtimes (generation is the slow part on CPU)
MAX_NEW = 32  # tokens compared token for token (or eval.max_new_tokens when smaller)
MERGE_VAL_ROWS = 64
MERGE_REL_BOUND = 1e-4
QLORA_MERGE_REL_BOUND = 1e-2

FIX_TEMPLATE = "re-run `slmforge export` so every file carries the tokenizer's chat template (model.chat_template decides it)"
FIX_STOP = "re-run `slmforge train`/`export`: the end-of-turn token must be written as eos everywhere the model is saved"


def _files(run: RunDir) -> dict[str, Path]:
    export = run.export
    ggufs = sorted(export.glob("*.gguf")) if export.is_dir() else []
    found = {"merged": export / "merged", "modelfile": export / "Modelfile"}
    for g in ggufs:
        found[g.stem.rsplit("-", 1)[-1]] = g  # f16, q8_0, ...
    return {k: v for k, v in found.items() if v.exists()}


def prompt_cases(recipe: Recipe, run: RunDir) -> list[PromptCase]:
    from slmforge.runtime.loss import read_tokenized
    from slmforge.runtime.models import load_tokenizer

    prep_tokenizer = load_tokenizer(recipe.model)  # the tokenizer data preparation used
    # The test split when it has rows (a tiny dataset's may be empty), else val, else train.
    split = next((s for s in ("test", "val", "train") if run.tokenized_file(s).is_file()), None)
    if split is None:
        # Preference data is tokenized by the preference trainers, not by prepare: the edge cases
        # (tokenized here as prepare would) carry the check, on the first prepared prompt.
        first_file = next((run.split_file(s) for s in ("test", "val", "train") if run.split_file(s).is_file()), None)
        if first_file is None:
            raise RunDirError(f"{run.data}: no prepared data; run `slmforge prepare RECIPE` first")
        row = json.loads(first_file.read_text(encoding="utf-8").splitlines()[0])
        user = next(m["content"] for m in reversed(row["messages"]) if m["role"] == "user")
        return edge_cases(prep_tokenizer, user, row.get("chosen") or "ok", recipe.data.max_length)
    cases = cases_from_test_split(run.split_file(split), read_tokenized(run.tokenized_file(split)), TEST_PROMPTS)
    if not cases:
        raise RunDirError(f"{run.split_file(split)}: no example with a reply left to check prompts on; run `slmforge prepare` again")
    first = cases[0]
    user = next(m["content"] for m in reversed(first.messages) if m["role"] == "user")
    return cases + edge_cases(prep_tokenizer, user, first.reference or "ok", recipe.data.max_length)


@dataclass
class Subject:
    """What verify compares: the run's exports, its prompt cases and the models loaded once for every row."""

    files: dict[str, Path]
    cases: list[PromptCase]
    model_dir: Path
    tokenizer: Any  # the saved tokenizer of model_dir
    merged_tok: Any  # export/merged's tokenizer, None without a merged export
    reference: Any  # adapter + base (or full weights), unmerged: the reference every runtime answers against
    served: tuple[Any, Any]  # (model, tokenizer) as `slmforge serve RUN` loads them (merged)
    gen: dict[str, Any]  # model_dir/generation_config.json
    eot: tuple[str, int]  # the chat template's end-of-turn token and id
    gguf: Path | None  # the F16/BF16 GGUF, when exported
    llamacpp: bool  # llama-cpp-python installed

    def decode(self, ids: list[int]) -> str:
        return self.tokenizer.decode(ids)


def load_subject(recipe: Recipe, run: RunDir, con: Console) -> Subject:
    from transformers import AutoTokenizer

    from slmforge.runtime.placement import announce, cpu_fp32
    from slmforge.runtime.trained import load_final

    files = _files(run)
    if "merged" not in files and not any(k in files for k in ("f16", "bf16", "q8_0")):
        raise RunDirError(f"{run.export}: nothing exported yet; run `slmforge export RECIPE` (or `slmforge run RECIPE`) first")
    cases = prompt_cases(recipe, run)
    model_dir, _ = run.final_model(recipe)
    con.print(f"verify: {len(cases)} prompts ({sum(c.name.startswith('test[') for c in cases)} from the test split + edge cases) · "
              f"model {model_dir} · exports {', '.join(sorted(files))}")
    placement = announce(cpu_fp32("parity is compared in full precision"), con, run, "verify", "reference")
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    reference, _ = load_final(recipe, run, merge=False, placement=placement)
    gen_path = model_dir / "generation_config.json"
    return Subject(
        files, cases, model_dir, tokenizer,
        AutoTokenizer.from_pretrained(files["merged"]) if "merged" in files else None,
        reference.eval(), load_final(recipe, run, merge=True, placement=placement),  # as `slmforge serve RUN` loads it
        json.loads(gen_path.read_text(encoding="utf-8")) if gen_path.is_file() else {},
        eot_of(tokenizer), files.get("f16") or files.get("bf16"), llamacpp.available())


def verify(recipe: Recipe, run: RunDir, con: Console) -> list[Path]:
    """Run every parity check; write export/parity.json; raise when a row failed."""
    s = load_subject(recipe, run, con)
    max_new = min(MAX_NEW, recipe.eval.max_new_tokens)
    rows = prompt_rows(s, run) + stop_rows(s, run)
    rows += output_rows(s, run, max_new, con)
    rows.append(_merge_row(recipe, run, s.model_dir, s.reference, s.files))
    rows += [row for row in [_four_bit_row(recipe, run, s.model_dir, s.reference)] if row is not None]
    report = {"passed": not any(r.status in ("failed", "crashed") for r in rows), "end_of_turn": {"token": s.eot[0], "id": s.eot[1]},
              "prompts": [c.name for c in s.cases], "output_prompts": len(s.cases[:OUTPUT_PROMPTS]), "max_new_tokens": max_new,
              "rows": [r.as_dict() for r in rows]}
    path = run.export / "parity.json"
    write_json_atomic(path, report)
    print_rows(rows, con)
    failed = [r for r in rows if r.status == "failed"]
    if failed:
        r = failed[0]
        raise SlmforgeError(f"{path}: {r.runtime} fails {r.check} parity ({r.detail}); {r.fix}")
    for r in rows:
        if r.status == "crashed":
            con.print(f"[red]verify: {r.runtime} crashed while checking {r.check} parity:[/red] {r.detail}; the rest of the run goes on",
                      highlight=False)
    return [path]


def _chat_ids(tok: Any, cases: list[PromptCase]) -> list[list[int] | str]:
    """What a transformers user gets from apply_chat_template for each case (the API under test, not our prompt path)."""
    out: list[list[int] | str] = []
    for case in cases:
        try:
            out.append(list(tok.apply_chat_template(case.messages, add_generation_prompt=True, tokenize=True,
                                                    return_dict=True)["input_ids"]))
        except Exception as exc:  # a template that rejects a conversation is a failed row, not a crash
            out.append(f"the chat template raised {type(exc).__name__}: {exc}")
    return out


def prompt_rows(s: Subject, run: RunDir) -> list[Row]:
    """The trained prompt ids from the saved tokenizer, the merged export, the server, llama.cpp and Ollama's template."""
    rows = [compare_prompts(f"tokenizer ({s.model_dir.relative_to(run.root)}/)", s.cases, _chat_ids(s.tokenizer, s.cases),
                            s.decode, FIX_TEMPLATE)]
    if s.merged_tok is not None:
        rows.append(compare_prompts("export/merged", s.cases, _chat_ids(s.merged_tok, s.cases), s.decode, FIX_TEMPLATE))
    rows.append(compare_prompts("server (chat_prompt_ids)", s.cases, _server_ids(s.served[1], s.cases), s.decode,
                                "the server builds prompts with the saved tokenizer's template; re-run `slmforge train` to save it"))
    if s.gguf is None:
        rows.append(Row("llama.cpp", "prompt", "skipped", "no F16/BF16 GGUF exported (export.quant)"))
    elif not s.llamacpp:
        rows.append(Row(f"llama.cpp ({s.gguf.name})", "prompt", "skipped", f"llama-cpp-python is not installed ({llamacpp.INSTALL})"))
    else:
        rows.append(crash_safe(f"llama.cpp ({s.gguf.name})", "prompt", lambda: compare_prompts(
            f"llama.cpp ({s.gguf.name})", s.cases, llamacpp.template_ids(s.gguf, [c.messages for c in s.cases]), s.decode,
            "the GGUF's tokenizer.chat_template differs: re-run `slmforge export`")))
    rows.append(_modelfile_prompt_row(s.files.get("modelfile"), s.tokenizer, s.cases))
    return rows


def stop_rows(s: Subject, run: RunDir) -> list[Row]:
    """The end-of-turn token is the stop token in every generation config, GGUF, the Modelfile and the server."""
    eot_text, eot_id = s.eot
    rows = [stop_row(f"{s.model_dir.relative_to(run.root)}/generation_config.json", eot_text, eot_id,
                     stop_ids_in(s.gen.get("eos_token_id")), where="eos_token_id", fix=FIX_STOP)]
    if s.merged_tok is not None:
        path = s.files["merged"] / "generation_config.json"
        merged_gen = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
        rows.append(stop_row("export/merged generation_config.json", eot_text, eot_id, stop_ids_in(merged_gen.get("eos_token_id")),
                             where="eos_token_id", fix=FIX_STOP))
    for quant in ("f16", "bf16", "q8_0", "q4_0"):
        if quant in s.files:
            rows.append(stop_row(f"GGUF {s.files[quant].name}", eot_text, eot_id, gguf_stop_ids(s.files[quant]),
                                 where="tokenizer.ggml.eos/eot_token_id", fix=FIX_STOP))
    if "modelfile" in s.files:
        _, _, stops = gotemplate.parse_modelfile(s.files["modelfile"])
        rows.append(stop_row("Ollama Modelfile", eot_text, eot_id, stop_texts=stops, where="PARAMETER stop",
                             fix="re-run `slmforge export` (the Modelfile lists the end-of-turn token as a stop)"))
    rows.append(stop_row("server", eot_text, eot_id, server_stop_ids(*s.served), where="the engine's stop ids", fix=FIX_STOP))
    return rows


def output_rows(s: Subject, run: RunDir, max_new: int, con: Console) -> list[Row]:
    """Greedy answers of every runtime against the reference (adapter + base), token for token where it can."""
    import torch
    from transformers import AutoModelForCausalLM

    cases = s.cases[:OUTPUT_PROMPTS]
    con.print(f"verify: greedy answers to {len(cases)} prompts, up to {max_new} tokens, from every runtime")
    reference = greedy_transformers(s.reference, s.tokenizer, cases, max_new, {s.eot[1]} | stop_ids_in(s.gen.get("eos_token_id")))
    fix = "the runtime answers differently from adapter + base: check the rows above (template, stop) and export/verify.json"
    rows = []
    if "merged" in s.files:
        merged = AutoModelForCausalLM.from_pretrained(s.files["merged"], dtype=torch.float32).eval()
        rows.append(compare_answers("export/merged (transformers, its generation_config)", cases, reference,
                                    greedy_transformers(merged, s.merged_tok, cases, max_new, None), max_new, s.decode, fix))
        del merged
    rows.append(compare_answers("server (HTTP, openai client)", cases, reference,
                                greedy_server(*s.served, cases, max_new), max_new, s.decode, fix))
    if s.gguf is not None and s.llamacpp:
        rows.append(crash_safe(f"llama.cpp ({s.gguf.name})", "output", lambda: compare_answers(
            f"llama.cpp ({s.gguf.name})", cases, reference, greedy_llamacpp(s.gguf, cases, max_new), max_new, s.decode, fix,
            tie=(s.reference, _tie_bound(run, s.gguf)))))
    rows.append(_quantized_row(run, s.files, cases, reference, s.llamacpp))
    return rows


def _tie_bound(run: RunDir, gguf: Path) -> float:
    """Twice the largest logit difference export measured for this file (its weight rounding), or
    2 % of a typical logit scale of 20 when export/verify.json does not have it."""
    verify_path = run.export / "verify.json"
    checks = json.loads(verify_path.read_text(encoding="utf-8"))["checks"] if verify_path.is_file() else []
    measured = next((c["max_abs_diff"] for c in checks if c.get("file") == gguf.name), None)
    return 2 * measured if measured else 0.4


def _server_ids(tokenizer: Any, cases: list[PromptCase]) -> list[list[int] | str]:
    from slmforge.runtime.serve.app import APIError, chat_prompt_ids
    from slmforge.runtime.serve.protocol import ChatRequest

    out: list[list[int] | str] = []
    for case in cases:
        try:
            out.append(chat_prompt_ids(tokenizer, ChatRequest(model="m", messages=case.messages)))
        except APIError as exc:
            out.append(f"the server refused the messages: {exc}")
    return out


def crash_safe(runtime: str, check: str, row: Callable[[], Row]) -> Row:
    """The row `row()` builds, or a crashed row when llama.cpp died building it (the run goes on)."""
    try:
        return row()
    except LlamaCppCrashed as exc:
        return Row(runtime, check, "crashed", str(exc))


def _modelfile_prompt_row(modelfile: Path | None, tokenizer: Any, cases: list[PromptCase]) -> Row:
    runtime = "Ollama Modelfile (Go text/template)"
    if modelfile is None:
        return Row(runtime, "prompt", "skipped", "no Modelfile exported (add ollama to export.formats)")
    try:
        template, system, _ = gotemplate.parse_modelfile(modelfile)
        rendered = gotemplate.render(template, system, [c.messages for c in cases])
    except gotemplate.GoUnavailable as exc:
        return Row(runtime, "prompt", "skipped", str(exc))
    except ValueError as exc:
        return Row(runtime, "prompt", "failed", str(exc), "re-run `slmforge export` to write the Modelfile again")
    wanted = [text_without_bos(tokenizer, c.messages) for c in cases]
    return compare_texts(runtime, [c.name for c in cases], wanted, rendered,
                         f"the Modelfile's TEMPLATE/SYSTEM differ from the chat template; re-run `slmforge export` ({modelfile})")


def _quantized_row(run: RunDir, files: dict[str, Path], cases: list[PromptCase], reference: list[Any], llamacpp_installed: bool) -> Row:
    """Q8_0 is held to the export bound (next-token top-1 agreement in export/verify.json), not to
    exact equality; its greedy agreement in llama.cpp is reported alongside."""
    if "q8_0" not in files:
        return Row("GGUF q8_0", "output", "skipped", "no Q8_0 GGUF exported")
    verify_path = run.export / "verify.json"
    checks = json.loads(verify_path.read_text(encoding="utf-8"))["checks"] if verify_path.is_file() else []
    check = next((c for c in checks if c.get("kind") == "q8_0"), None)
    if check is None:
        return Row(f"GGUF {files['q8_0'].name}", "output", "skipped", "export/verify.json has no q8_0 check; re-run `slmforge export`")
    detail = f"next-token top-1 {check['top1_agreement']:.1%} of {check['positions']} positions (bound 95 %)"
    if llamacpp_installed:
        try:
            agree, total, first = agreement(cases, reference, greedy_llamacpp(files["q8_0"], cases, MAX_NEW))
        except LlamaCppCrashed as exc:
            return Row(f"GGUF {files['q8_0'].name} (llama.cpp)", "output", "crashed", str(exc))
        detail += f"; llama.cpp greedy: {agree}/{total} reference tokens before divergence" + (f" (first: {first})" if first else "")
    status = "passed" if check["passed"] else "failed"
    return Row(f"GGUF {files['q8_0'].name}", "output", status, detail, "" if check["passed"] else "see export/verify.json")


def _merge_row(recipe: Recipe, run: RunDir, model_dir: Path, reference_model: Any, files: dict[str, Path]) -> Row:
    """Val loss of the model eval scores (adapter + base; for QLoRA the adapter merged into the dequantized
    NF4 base) against the merged export: merging and writing must not change the model."""
    import torch
    from transformers import AutoModelForCausalLM

    from slmforge.runtime.loss import read_tokenized, token_loss

    if not (model_dir / "adapter_config.json").is_file():
        return Row("merge", "merge", "skipped", "full weights were trained: nothing is merged")
    if "merged" not in files:
        return Row("merge", "merge", "skipped", "no merged export (add merged to export.formats)")
    split = "val" if run.tokenized_file("val").is_file() else "test"
    ids, labels = read_tokenized(run.tokenized_file(split), MERGE_VAL_ROWS)
    before = token_loss(reference_model, ids, labels).loss
    merged = AutoModelForCausalLM.from_pretrained(files["merged"], dtype=torch.float32).eval()
    after = token_loss(merged, ids, labels).loss
    rel = abs(after - before) / max(abs(before), 1e-9)
    qlora = is_qlora(recipe, run, model_dir)
    runtime = "merge (QLoRA → dequantized NF4 base, eval's model → export/merged)" if qlora else "merge (LoRA → export/merged)"
    detail = f"{split} loss on {len(ids)} examples: {'eval' if qlora else 'adapter + base'} {before:.5f}, merged {after:.5f} " \
             f"(Δ {rel:.1e} relative, bound {MERGE_REL_BOUND:.0e})"
    if rel <= MERGE_REL_BOUND:
        return Row(runtime, "merge", "passed", detail)
    return Row(runtime, "merge", "failed", detail, "re-run `slmforge export`; the merged weights are not the adapter's")


def _four_bit_row(recipe: Recipe, run: RunDir, model_dir: Path, reference_model: Any) -> Row | None:
    """QLoRA: how far the model every runtime runs (merged, dequantized) is from the 4-bit model training saw.
    Reported against a looser bound: a 4-bit forward pass computes in its compute dtype, not in fp32."""
    if not is_qlora(recipe, run, model_dir):
        return None
    from peft import PeftModel

    from slmforge.runtime.loss import read_tokenized, token_loss
    from slmforge.runtime.placement import place
    from slmforge.runtime.trained import load_base

    split = "val" if run.tokenized_file("val").is_file() else "test"
    ids, labels = read_tokenized(run.tokenized_file(split), MERGE_VAL_ROWS)
    four_bit = PeftModel.from_pretrained(load_base(recipe.model, "qlora", place(recipe.model, four_bit=True))[0], str(model_dir))
    trained = token_loss(four_bit.eval(), ids, labels).loss
    merged = token_loss(reference_model, ids, labels).loss
    rel = abs(merged - trained) / max(abs(trained), 1e-9)
    detail = (f"{split} loss on {len(ids)} examples: 4-bit base + adapter (as trained) {trained:.5f}, dequantized + merged "
              f"{merged:.5f} (Δ {rel:.1e} relative, bound {QLORA_MERGE_REL_BOUND:.0e})")
    status = "passed" if rel <= QLORA_MERGE_REL_BOUND else "failed"
    return Row("QLoRA (4-bit as trained → dequantized + merged)", "merge", status, detail,
               "" if status == "passed" else "the dequantized base is not the one training used: check bitsandbytes' version")


def print_rows(rows: list[Row], con: Console) -> None:
    table = Table(title="parity: one template and one stop token from training to every runtime")
    for col in ("runtime", "check", "result", "detail"):
        table.add_column(col, overflow="fold")
    colour = {"passed": "green", "failed": "red", "skipped": "yellow", "crashed": "red"}
    for r in rows:
        table.add_row(r.runtime, r.check, f"[{colour[r.status]}]{r.status}", r.detail + (f" → {r.fix}" if r.status == "failed" else ""))
    con.print(table)

"""The `slmforge` command: one verb, one stage function. Errors become one red line and exit 2."""

from __future__ import annotations

import errno
import functools
import os
import sys
from pathlib import Path
from typing import Annotated, Any, Callable, Optional

import typer
from rich.console import Console

from slmforge.core.errors import SlmforgeError
from slmforge.core.rundir import disk_full

console = Console(stderr=True)
app = typer.Typer(help=__doc__, no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)

RecipeArg = Annotated[Path, typer.Argument(help="Recipe YAML file.")]
SetOpt = Annotated[Optional[list[str]], typer.Option("--set", help="Override a recipe key: --set train.lr=1e-4 (repeatable).")]
RunsOpt = Annotated[Path, typer.Option("--runs", help="Directory that holds run directories.")]


def user_errors(fn: Callable) -> Callable:
    """Turn SlmforgeError into a red message and exit code 2; a traceback reaching a user is a bug."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except SlmforgeError as exc:
            for line in str(exc).splitlines() or [type(exc).__name__]:
                console.print(f"[red]error:[/red] {line}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            console.print("[yellow]interrupted[/yellow]")
            raise typer.Exit(130) from None
        except OSError as exc:  # a full disk reached through a library's own writer (checkpoints, Parquet)
            if exc.errno != errno.ENOSPC:
                raise
            console.print(f"[red]error:[/red] {disk_full(Path(exc.filename or '.'), 0)}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None

    return wrapper


def _load(recipe: Path, overrides: list[str] | None):
    from slmforge.core.recipe import load

    return load(recipe, overrides or [])


@app.command("show-recipe")
@user_errors
def show_recipe(recipe: RecipeArg, set_: SetOpt = None) -> None:
    """Validate a recipe and print it with every default filled in (loads no model)."""
    resolved = _load(recipe, set_)
    typer.echo(resolved.to_yaml(), nl=False)


@app.command("prepare")
@user_errors
def prepare_cmd(recipe: RecipeArg, set_: SetOpt = None, runs: RunsOpt = Path("runs")) -> None:
    """Read, validate, split and tokenize the recipe's data into runs/<name>/data/."""
    from slmforge.orchestrate.pipeline import run_stages

    run_stages(_load(recipe, set_), runs, ["prepare"], force=True)


@app.command("train")
@user_errors
def train_cmd(
    recipe: RecipeArg,
    set_: SetOpt = None,
    runs: RunsOpt = Path("runs"),
    resume: Annotated[
        Optional[str], typer.Option(help="auto: newest complete checkpoint; never: start over; or a checkpoint-N path.")
    ] = None,
    nproc: Annotated[int, typer.Option(min=1, help="Processes per machine (accelerate launch; train.distributed picks ddp/fsdp/deepspeed).")] = 1,
    nnodes: Annotated[int, typer.Option(min=1, help="Machines taking part (each runs this command).")] = 1,
    node_rank: Annotated[int, typer.Option(min=0, help="This machine's index, 0 on the main one.")] = 0,
    master: Annotated[str, typer.Option(help="ADDR:PORT of the main machine.")] = "127.0.0.1:29500",
) -> None:
    """Fine-tune the model (full / lora / qlora) on the prepared data into runs/<name>/model/ (prepares first if needed)."""
    from slmforge.orchestrate.pipeline import run_stages

    overrides = list(set_ or []) + ([f"train.resume={resume}"] if resume else [])
    resolved = _load(recipe, overrides)
    if nproc * nnodes > 1 or resolved.train.distributed in ("fsdp", "deepspeed"):
        # fsdp/deepspeed go through the launcher even on one process: their checkpoints load only there.
        from slmforge.orchestrate.distributed import launch

        launch(recipe, overrides, runs, resolved, nproc, console, nnodes, node_rank, master)
        return
    run_stages(resolved, runs, ["prepare"])  # skipped when the prepared data is complete
    run_stages(resolved, runs, ["train"], force=True)


@app.command("prefs")
@user_errors
def prefs_cmd(recipe: RecipeArg, set_: SetOpt = None, runs: RunsOpt = Path("runs")) -> None:
    """Preference pairs into runs/<name>/prefs/pairs.jsonl: scored samples of the model (resumes), a file, or a rated spot-check."""
    from slmforge.orchestrate.pipeline import run_stages

    resolved = _load(recipe, set_)
    if resolved.prefs.source == "samples":
        run_stages(resolved, runs, ["prepare"])  # skipped when the prepared data is complete
    run_stages(resolved, runs, ["prefs"], force=True)


@app.command("sweep")
@user_errors
def sweep_cmd(
    recipe: RecipeArg,
    set_: SetOpt = None,
    runs: RunsOpt = Path("runs"),
    param: Annotated[Optional[list[str]], typer.Option("--param", help="KEY=SPACE: loguniform:LO:HI, float:LO:HI, int:LO:HI, categorical:A,B (repeatable).")] = None,
    trials: Annotated[Optional[int], typer.Option(min=1, help="Trials the study should hold in total (default sweep.trials).")] = None,
    objective: Annotated[Optional[str], typer.Option(help="val_loss, train_loss or an eval metric (default sweep.objective).")] = None,
    direction: Annotated[Optional[str], typer.Option(help="minimize | maximize (default: inferred from the objective's name).")] = None,
    storage: Annotated[Optional[str], typer.Option(help="Optuna storage shared by several sweeps: journal (one machine) or an RDB URL (default runs/<name>/sweep.db).")] = None,
) -> None:
    """Search hyperparameters with Optuna: each trial is a run directory under runs/<name>/trials/; re-running continues."""
    from slmforge.orchestrate.sweep.space import parse_cli_params
    from slmforge.orchestrate.sweep.study import make_plan, sweep
    from slmforge.orchestrate.sweep.summary import print_summary, summarize

    if direction not in (None, "minimize", "maximize"):
        raise SlmforgeError(f"--direction: must be minimize or maximize, got {direction!r}")
    resolved = _load(recipe, set_)
    plan = make_plan(resolved, runs, parse_cli_params(param or []), trials, objective, direction, storage)
    study = sweep(resolved, plan, console)
    print_summary(summarize(study, resolved, plan, recipe), console)


@app.command("plan")
@user_errors
def plan_cmd(
    recipe: RecipeArg,
    set_: SetOpt = None,
    runs: RunsOpt = Path("runs"),
    gpu_memory: Annotated[Optional[str], typer.Option("--gpu-memory", help="Memory per GPU for the multi-GPU table, e.g. 80GB (default: the CUDA device, else 80GB).")] = None,
) -> None:
    """Print memory (full / lora / qlora), per-GPU memory for DDP / FSDP / ZeRO-3 on 1-8 GPUs and time per epoch, from the model config alone."""
    from slmforge.orchestrate.plan import print_plan

    print_plan(_load(recipe, set_), runs, gpu_memory=gpu_memory)


@app.command("run")
@user_errors
def run_cmd(
    recipe: RecipeArg,
    set_: SetOpt = None,
    runs: RunsOpt = Path("runs"),
    force: Annotated[bool, typer.Option(help="Redo stages even when their outputs are complete.")] = False,
) -> None:
    """Run every stage of the recipe in order; stages whose outputs are complete are skipped."""
    from slmforge.orchestrate.pipeline import run_stages

    run_stages(_load(recipe, set_), runs, None, force=force)


ModelOrRunArg = Annotated[str, typer.Argument(help="Run directory (runs/NAME), model directory, .gguf file or embedded:smollm2-135m.")]


@app.command("serve")
@user_errors
def serve_cmd(
    model_or_run: Annotated[list[str], typer.Argument(help="Run directory (runs/NAME), model directory, .gguf file or "
                                                           "embedded:smollm2-135m; several runs sharing a base: one base, "
                                                           "each run's adapter under its name.")],
    host: Annotated[Optional[str], typer.Option(help="Bind address (default 127.0.0.1; others need --api-keys).")] = None,
    port: Annotated[Optional[int], typer.Option(help="Port (default 8000).")] = None,
    api_keys: Annotated[Optional[Path], typer.Option("--api-keys", help="File with one API key per line (Bearer auth).")] = None,
    name: Annotated[Optional[str], typer.Option(help="Model name clients send for the first MODEL_OR_RUN (default: its name).")] = None,
    model: Annotated[Optional[list[str]], typer.Option("--model", help="Serve another model too: NAME=PATH (repeatable).")] = None,
    split: Annotated[Optional[str], typer.Option(help="A/B: route the alias across models by weight, e.g. a=0.9,b=0.1.")] = None,
    split_alias: Annotated[str, typer.Option(help="Model name that --split routes.")] = "ab",
    engine: Annotated[str, typer.Option(help="transformers | llamacpp (GGUF) | vllm (its own environment: make vllm; CUDA or CPU).")] = "transformers",
    dtype: Annotated[str, typer.Option(help="auto | fp32 | bf16 | fp16 (auto: the placement's pick: bf16 on a GPU that has it, fp16 on older ones; on a CPU bf16 only where its bf16 matmul measures faster than fp32).")] = "auto",
    max_batch: Annotated[Optional[int], typer.Option(help="Most sequences per batch (1 = no batching).")] = None,
    batch_wait_ms: Annotated[Optional[float], typer.Option(help="How long a batch waits for more requests.")] = None,
    prefix_cache_mb: Annotated[Optional[float], typer.Option(help="MB for the keys and values of prompt beginnings kept for later prompts (0 = off).")] = None,
    rate_limit: Annotated[Optional[float], typer.Option(help="Sequences (prompts × n) per second per key; 0 = off.")] = None,
    threads: Annotated[Optional[int], typer.Option(help="CPU threads for the model (default: torch's choice).")] = None,
    public_metrics: Annotated[Optional[bool], typer.Option("--public-metrics", help="With --api-keys: /metrics and /openapi.json need no key.")] = None,
) -> None:
    """Serve models over an OpenAI-compatible HTTP API (chat, completions, streaming, /metrics)."""
    from slmforge.runtime.serve.launch import serve_command

    serve_command(model_or_run, name=name, models=model, api_keys_file=str(api_keys) if api_keys else None,
                  split=split, split_alias=split_alias, engine=engine, dtype=dtype, host=host, port=port,
                  max_batch=max_batch, batch_wait_ms=batch_wait_ms, prefix_cache_mb=prefix_cache_mb,
                  rate_limit=rate_limit, threads=threads,
                  public_metrics=public_metrics)


@app.command("chat")
@user_errors
def chat_cmd(
    model_or_run: ModelOrRunArg,
    system: Annotated[Optional[str], typer.Option(help="System prompt.")] = None,
    max_tokens: Annotated[int, typer.Option(help="Reply length cap.")] = 256,
    temperature: Annotated[float, typer.Option(help="0 = greedy.")] = 0.7,
) -> None:
    """Chat with a model in the terminal, for a quick try."""
    from slmforge.runtime.serve.chat import chat_loop

    chat_loop(model_or_run, system=system, max_tokens=max_tokens, temperature=temperature)

SamplesOpt = Annotated[Optional[Path], typer.Option("--samples", help="JSONL of answers to judge (default: the run's eval/samples.jsonl).")]


@app.command("judge")
@user_errors
def judge_cmd(recipe: RecipeArg, set_: SetOpt = None, runs: RunsOpt = Path("runs"), samples: SamplesOpt = None) -> None:
    """Score the run's answers 1-5 with an LLM judge into runs/<name>/judge/ (resumes an interrupted run)."""
    from slmforge.orchestrate.pipeline import run_stages

    options = {"scores_only": True, **({"samples": str(samples.resolve())} if samples else {})}
    run_stages(_load(recipe, set_), runs, ["judge"], force=True, options=options)


@app.command("compare")
@user_errors
def compare_cmd(
    recipe: RecipeArg,
    set_: SetOpt = None,
    runs: RunsOpt = Path("runs"),
    a: Annotated[str, typer.Option("--a", help="Side A: final, base, a run directory or a samples .jsonl.")] = "final",
    b: Annotated[str, typer.Option("--b", help="Side B: base, template (the folksy engine), a run directory or a samples .jsonl.")] = "template",
) -> None:
    """Pairwise A/B with the judge, both orders per prompt: win/tie/loss, win rate with 95 % CI, order agreement."""
    from slmforge.orchestrate.pipeline import run_stages

    run_stages(_load(recipe, set_), runs, ["compare"], force=True, options={"a": a, "b": b})


@app.command("eval")
@user_errors
def eval_cmd(
    recipe: RecipeArg,
    set_: SetOpt = None,
    runs: RunsOpt = Path("runs"),
    model: Annotated[str, typer.Option("--model", help="final (the aligned model when align is on, else model/), sft (model/), base, or a model directory.")] = "final",
) -> None:
    """Evaluate the fine-tuned and the base model side by side on the test split into runs/<name>/eval/."""
    from slmforge.orchestrate.pipeline import run_stages

    resolved = _load(recipe, set_)
    run_stages(resolved, runs, ["prepare"])  # skipped when the prepared data is complete
    # The final model is what `run` evaluates: that record lets a later `run` skip eval.
    run_stages(resolved, runs, ["eval"], force=True, options={} if model == "final" else {"model": model})


RunArg = Annotated[Path, typer.Argument(help="Run directory (runs/NAME).")]


@app.command("rate")
@user_errors
def rate_cmd(
    run: RunArg, ratings: Annotated[Path, typer.Argument(help="The spot-check CSV with its rating column filled in.")]
) -> None:
    """Read a rated spot-check CSV (Good/Okay/Bad) and report the shares against the recipe's targets."""
    from slmforge.evaluate.spotcheck import rate

    if not rate(run, ratings, console).passed:
        raise typer.Exit(1)


@app.command("export")
@user_errors
def export_cmd(
    recipe: RecipeArg,
    set_: SetOpt = None,
    runs: RunsOpt = Path("runs"),
    format_: Annotated[Optional[str], typer.Option("--format", help="Comma list of merged, gguf, ollama (default: export.formats).")] = None,
    quant: Annotated[Optional[str], typer.Option("--quant", help="Comma list of GGUF types: f16, bf16, q8_0, q4_0 (default: export.quant).")] = None,
) -> None:
    """Export the trained model (merged safetensors, GGUF, Ollama Modelfile, model card), each loaded back and checked."""
    from slmforge.orchestrate.pipeline import run_stages

    overrides = list(set_ or [])
    if format_:
        overrides.append(f"export.formats=[{format_}]")
    if quant:
        overrides.append(f"export.quant=[{quant}]")
    run_stages(_load(recipe, overrides), runs, ["export"], force=True)


def _run_dir_recipe(run: Path) -> Any:
    """The recipe a run directory was made with (runs/NAME/recipe.yaml), checked to name that directory."""
    from slmforge.core.recipe import load

    if not (run / "recipe.yaml").is_file():
        raise SlmforgeError(f"{run}: not a run directory (no recipe.yaml); pass runs/<name>")
    recipe = load(run / "recipe.yaml")
    if recipe.name != run.resolve().name:
        raise SlmforgeError(f"{run}: its recipe.yaml names the run {recipe.name!r}; pass the directory runs/{recipe.name}")
    return recipe


@app.command("verify")
@user_errors
def verify_cmd(run: RunArg) -> None:
    """Check that the trained prompt format, stop token and answers are the same in every runtime (export/parity.json)."""
    from slmforge.orchestrate.pipeline import run_stages

    run_stages(_run_dir_recipe(run), run.resolve().parent, ["verify"], force=True)


@app.command("report")
@user_errors
def report_cmd(run: RunArg) -> None:
    """Write runs/<name>/report.html: loss curves, metrics vs the base model, samples, data report."""
    from slmforge.orchestrate.pipeline import run_stages

    done = run_stages(_run_dir_recipe(run), run.resolve().parent, ["report"], force=True)
    typer.echo(done.report)


@app.command("studio")
@user_errors
def studio_cmd(
    runs: RunsOpt = Path("runs"),
    host: Annotated[str, typer.Option(help="Bind address; anything but loopback needs --token.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port.")] = 7860,
    token: Annotated[Optional[str], typer.Option(envvar="SLMFORGE_STUDIO_TOKEN", help="Secret every page and API call must carry (cookie, Bearer or ?token=); required off loopback.")] = None,
    max_models: Annotated[int, typer.Option(min=1, help="Playground models kept loaded at once (least recently used one is unloaded).")] = 3,
) -> None:
    """The whole job in a browser: runs (live), a new-run form, data, compare, a playground with blind A/B votes."""
    from slmforge.orchestrate.studio.app import serve_studio

    serve_studio(runs, host=host, port=port, token=token, max_models=max_models)


# The corpus generators are pure Python (no torch): cheap to import with the CLI.
from slmforge.corpora.cli import app as corpus_app  # noqa: E402

app.add_typer(corpus_app, name="corpus", help="Generate the built-in training corpora.")


def main() -> None:
    # Tokenizer fork warnings are noise for a CLI that forks for tokenization on purpose.
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    app(prog_name="slmforge")


if __name__ == "__main__":
    sys.exit(main())

"""The recipe: one YAML file that describes a whole job, validated before any model loads.

`load(path, overrides)` returns a `Recipe` or raises `RecipeError` whose message lists every
problem, one line each, naming the key ("train.lr: must be > 0, got -1").
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator
from pydantic_core import PydanticCustomError

from slmforge.core.errors import RecipeError
from slmforge.core.sections import (
    FLOOR_METRICS,
    AlignSection,
    DataSection,
    EvalSection,
    ExportSection,
    JudgeSection,
    ModelSection,
    PrefsSection,
    Section,
    ServeSection,
    SweepSection,
    TrainSection,
)


class Recipe(Section):
    name: str = Field(..., min_length=1, description="Run name: outputs go to runs/<name>/.")
    model: ModelSection = Field(default_factory=ModelSection)
    data: DataSection
    train: TrainSection = Field(default_factory=TrainSection)
    eval: EvalSection = Field(default_factory=EvalSection)
    judge: JudgeSection = Field(default_factory=JudgeSection)
    prefs: PrefsSection = Field(default_factory=PrefsSection)
    align: AlignSection = Field(default_factory=AlignSection, description="SFT → prefs → preference training in one `run`.")
    export: ExportSection = Field(default_factory=ExportSection)
    serve: ServeSection = Field(default_factory=ServeSection)
    sweep: SweepSection | None = Field(None, description="Hyperparameter search for `slmforge sweep`; ignored by other verbs.")

    @field_validator("name")
    @classmethod
    def _name_is_a_directory_name(cls, v: str) -> str:
        if "/" in v or v in {".", ".."}:
            raise ValueError(f"must be a plain directory name, got {v!r}")
        return v

    @model_validator(mode="after")
    def _align_follows_sft(self) -> Recipe:
        if self.align.enabled and self.train.method not in ("full", "lora", "qlora"):
            raise ValueError(f"align.enabled: the train stage must be SFT (train.method full, lora or qlora), "
                             f"got {self.train.method}; the preference method goes in align.method")
        return self

    @model_validator(mode="after")
    def _unpaired_is_for_kto(self) -> Recipe:
        # SFT would fit the bad answers too; dpo / orpo / reward need pairs. grpo only reads the prompts.
        if self.data.format == "unpaired" and self.train.method not in ("kto", "grpo"):
            raise ValueError(f"data.format: unpaired (good/bad labelled answers) trains with train.method kto (or grpo, "
                             f"which uses only the prompts), got {self.train.method}")
        return self

    @model_validator(mode="after")
    def _rules_across_sections(self) -> Recipe:
        problems = cross_section_problems(self)
        if problems:
            # Printed as written (each names its own key), one line per problem.
            raise PydanticCustomError("recipe_rule", "{problems}", {"problems": "\n".join(problems)})
        return self

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False, allow_unicode=True)


# --------------------------------------------------------------------------- rules across sections
# Sweep objectives read from logs/metrics.jsonl; any other name is a metric of eval/results.json.
LOSS_OBJECTIVES = ("val_loss", "eval_loss", "train_loss")


def objective_problem(objective: str, recipe: Recipe) -> str | None:
    """Why a sweep cannot optimise `objective` for this recipe (shared with `slmforge sweep --objective`)."""
    if objective in ("val_loss", "eval_loss") and recipe.data.split.val <= 0:
        return f"sweep.objective: {objective} needs a validation split; set data.split.val > 0"
    if objective not in LOSS_OBJECTIVES and not recipe.eval.enabled:
        return f"sweep.objective: {objective} is read from eval/results.json; set eval.enabled: true"
    return None


def cross_section_problems(recipe: Recipe) -> list[str]:
    """Rules that need more than one key: checked when the recipe loads (`show-recipe` too), not after prepare."""
    problems: list[str] = []
    t, g = recipe.train, recipe.train.grpo
    grpo_batches = ([("train.batch_size", t.batch_size)] if t.method == "grpo" else []) + (
        [("align.batch_size", recipe.align.batch_size)] if recipe.align.enabled and recipe.align.method == "grpo" else [])
    if grpo_batches and not g.reward:
        problems.append("train.grpo.reward: grpo needs a reward, module:function (e.g. mypkg.rewards:short) or a reward model directory")
    for key, batch in grpo_batches:
        if batch % g.num_generations:
            problems.append(f"train.grpo.num_generations: {g.num_generations} must divide {key} ({batch}): "
                            "each batch holds whole groups of completions of one prompt")
    if {"gguf", "ollama"} & set(recipe.export.formats) and not recipe.export.quant:
        problems.append("export.quant: empty, but export.formats writes a GGUF; set it (e.g. [f16, q8_0]) or pass --quant f16")
    judged = [key for key, used in (
        ("judge.enabled", recipe.judge.enabled),
        ("prefs.scorer: judge", recipe.align.enabled and recipe.prefs.source == "samples" and recipe.prefs.scorer == "judge"),
        ("train.grpo.reward: judge", bool(grpo_batches) and g.reward == "judge")) if used]
    if judged and not recipe.judge.endpoint:
        problems.append(f"judge.endpoint: not set, but {judged[0]} uses the judge; give its OpenAI-compatible base URL, "
                        "e.g. http://127.0.0.1:8000/v1")
    if recipe.sweep is not None:
        problem = objective_problem(recipe.sweep.objective, recipe)
        if problem:
            problems.append(problem)
    return problems + floor_problems(recipe)


def floor_problems(recipe: Recipe) -> list[str]:
    """eval.floors must name metrics eval writes (custom metrics' names are known only when they run) and a part that exists."""
    floors, problems = recipe.eval.floors, []
    if not recipe.eval.enabled:  # no eval, no floors to check (align's sub run: its data has no unseen part)
        return problems
    if floors.part != "all" and not recipe.data.split.unseen:
        problems.append(f"eval.floors.part: {floors.part} needs data.split.unseen (e.g. [{{field: meta_phrasing, share: 0.2}}]); or use all")
    if not recipe.eval.custom_metrics:
        for name in floors.metrics:
            if name not in FLOOR_METRICS:
                close = difflib.get_close_matches(name, FLOOR_METRICS, n=1)
                hint = f"did you mean {close[0]}?" if close else f"one of {', '.join(FLOOR_METRICS)}"
                problems.append(f"eval.floors.metrics: {name} is not a metric eval writes; {hint}")
    return problems


# --------------------------------------------------------------------------- loading
def import_callable(spec: str, key: str, example: str = "mypkg.module:function") -> Any:
    """Resolve a recipe's `module:function` (custom metrics, scorers) or raise a RecipeError naming key."""
    import importlib

    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise RecipeError(f"{key}: {spec!r} is not module:function (e.g. {example})")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise RecipeError(f"{key}: cannot import {module_name} ({exc}); put it on PYTHONPATH") from None
    fn = getattr(module, attr, None)
    if not callable(fn):
        raise RecipeError(f"{key}: {module_name} has no function {attr}")
    return fn


def apply_override(raw: dict[str, Any], assignment: str) -> None:
    """Apply one `--set a.b=c` (the value is parsed as YAML: 3 → int, [a,b] → list, null → None)."""
    if "=" not in assignment:
        raise RecipeError(f"--set {assignment}: expected KEY=VALUE, e.g. --set train.lr=1e-4")
    key, _, value = assignment.partition("=")
    try:
        parsed = yaml.safe_load(value) if value.strip() else None
    except yaml.YAMLError:
        parsed = value
    set_dotted(raw, key.strip(), parsed, f"--set {key}")


def set_dotted(raw: dict[str, Any], key: str, value: Any, where: str) -> None:
    """Set raw[a][b][c] = value for key "a.b.c", creating sections; `where` starts the error line."""
    parts = key.split(".")
    node = raw
    for i, part in enumerate(parts[:-1]):
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        if not isinstance(child, dict):
            raise RecipeError(f"{where}: {'.'.join(parts[: i + 1])} is not a section")
        node = child
    node[parts[-1]] = value


def _allowed_keys(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """The field names of the section at `loc` (for 'did you mean')."""
    current: Any = model
    for part in loc[:-1]:
        fields = getattr(current, "model_fields", None)
        if not fields or part not in fields:
            return []
        annotation = fields[part].annotation
        candidates = [annotation, *getattr(annotation, "__args__", ())]
        current = next((c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None)
        if current is None:
            return []
    return list(getattr(current, "model_fields", {}))


def _format_error(err: dict[str, Any]) -> str:
    loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-after")))
    # pydantic puts union member names into the location (e.g. 'int', 'literal[...]'): drop them.
    loc = tuple(p for p in loc if not (isinstance(p, str) and ("[" in p or p in {"int", "str", "float", "bool"})))
    key = ".".join(str(p) for p in loc) or "recipe"
    kind = err["type"]
    if kind == "recipe_rule":
        return err["msg"]
    if kind == "extra_forbidden":
        allowed = _allowed_keys(Recipe, loc)
        close = difflib.get_close_matches(str(loc[-1]), allowed, n=1, cutoff=0.6)
        hint = f", did you mean {close[0]}?" if close else f" (allowed: {', '.join(allowed)})"
        return f"{key}: unknown key{hint}"
    if kind == "missing":
        return f"{key}: required key is missing"
    msg = err["msg"].removeprefix("Value error, ")
    ctx = err.get("ctx") or {}
    symbols = {"greater_than": ">", "greater_than_equal": ">=", "less_than": "<", "less_than_equal": "<="}
    if kind in symbols:
        op = {"greater_than": "gt", "greater_than_equal": "ge", "less_than": "lt", "less_than_equal": "le"}[kind]
        msg = f"must be {symbols[kind]} {ctx.get(op)}"
    elif kind == "literal_error":
        msg = "must be one of " + str(ctx.get("expected", "")).replace("'", "")
    else:
        msg = msg.replace("Input should be", "must be")
    got = err.get("input")
    if got is not None and not isinstance(got, dict) and kind != "value_error":
        return f"{key}: {msg}, got {shown(got)}"
    return f"{key}: {msg}"


def _merge_union_errors(lines: list[str]) -> list[str]:
    """A union field (int | 'auto') fails once per member: say it once, 'must be A or B'."""
    by_key: dict[str, list[str]] = {}
    for line in lines:
        key, _, rest = line.partition(": ")
        by_key.setdefault(key, []).append(rest)
    merged = []
    for key, rests in by_key.items():
        if len(rests) > 1 and all(r.startswith("must be") and ", got " in r for r in rests):
            wants = [r.removeprefix("must be ").rsplit(", got ", 1)[0] for r in rests]
            wants = [w.split(",")[0] for w in wants]
            merged.append(f"{key}: must be {' or '.join(wants)}, got {rests[0].rsplit(', got ', 1)[1]}")
        else:
            merged.extend(f"{key}: {r}" for r in rests)
    return merged


# A recipe is a few hundred values; YAML aliases can make a dozen lines expand to billions ("billion laughs").
MAX_VALUES = 100_000
SHOWN_CHARS = 80


def expands_beyond(raw: Any, limit: int) -> bool:
    """True when the loaded YAML, its aliases expanded, holds more than `limit` values (counted without recursion,
    stopping as soon as the limit is passed: the shared structure an alias bomb builds is never walked whole)."""
    count, stack = 0, [raw]
    while stack:
        item = stack.pop()
        count += 1
        if count > limit:
            return True
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def shown(value: Any) -> str:
    """A value as an error line shows it: its repr, cut to SHOWN_CHARS characters (a pasted file or an expanded
    alias must not print megabytes)."""
    text = repr(value)
    return text if len(text) <= SHOWN_CHARS else f"{text[:SHOWN_CHARS]}… ({len(text):,} characters)"


def validate(raw: Any, source: str = "recipe") -> Recipe:
    if not isinstance(raw, dict):
        raise RecipeError(f"{source}: the recipe must be a YAML mapping of sections (name, model, data, train, ...)")
    try:
        return Recipe.model_validate(raw)
    except ValidationError as exc:
        lines = _merge_union_errors(list(dict.fromkeys(line for e in exc.errors() for line in _format_error(e).splitlines())))
        raise RecipeError("\n".join(sorted(lines))) from None


def load(path: str | Path, overrides: list[str] | None = None) -> Recipe:
    """Read, override and validate a recipe. Every problem is reported at once, one per line."""
    path = Path(path)
    if not path.is_file():
        raise RecipeError(f"{path}: recipe file not found (see recipes/ for examples)")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise RecipeError(f"{path}{where}: {problem}; fix the YAML syntax") from None
    except UnicodeDecodeError:
        raise RecipeError(f"{path}: not UTF-8 text; save the recipe as UTF-8") from None
    except RecursionError:
        raise RecipeError(f"{path}: the YAML nests deeper than any recipe does; fix the file") from None
    if raw is None:
        raw = {}
    if expands_beyond(raw, MAX_VALUES):
        raise RecipeError(f"{path}: the YAML expands to more than {MAX_VALUES:,} values (aliases * repeating anchors &); "
                          "a recipe is a few hundred keys, write it out without the aliases")
    if isinstance(raw, dict):
        for assignment in overrides or []:
            apply_override(raw, assignment)
        resolve_paths(raw, path.parent)
    return validate(raw, str(path))


# Recipe keys that may name a file or directory (besides what else they accept: hub ids, module:function, ...).
PATH_KEYS = ("model.id", "data.path", "judge.rubric", "prefs.path", "prefs.scorer", "prefs.model", "train.grpo.reward")


def resolve_paths(raw: dict[str, Any], recipe_dir: Path) -> None:
    """Make the recipe's relative paths mean the same under every verb and from any directory.

    A relative path is looked up from the working directory first (as it always was), then beside
    the recipe file; one found beside the recipe becomes absolute in the resolved recipe, so the run
    directory's recipe.yaml (read again by `verify RUN`, `report RUN`, sweeps and launched workers)
    names the same file wherever it is read from.
    """
    for key in PATH_KEYS:
        node: Any = raw
        *sections, leaf = key.split(".")
        for part in sections:
            node = node.get(part) if isinstance(node, dict) else None
        value = node.get(leaf) if isinstance(node, dict) else None
        if not isinstance(value, str) or not value or ":" in value.split("/")[0]:
            continue  # not a path (embedded:NAME, hf:NAME, module:function, an unset key)
        given = Path(value).expanduser()
        if not given.is_absolute() and not given.exists() and (recipe_dir / given).exists():
            node[leaf] = str((recipe_dir / given).resolve())

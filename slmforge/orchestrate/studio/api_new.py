"""New run API: the form's schema, shipped recipes, an uploaded data file, live check + plan, start."""

from __future__ import annotations

import json
import re
from typing import Any

from fastapi import APIRouter, Body, Query, Request

from slmforge.orchestrate.studio import recipe_form
from slmforge.orchestrate.studio.app import studio_of
from slmforge.orchestrate.studio.safety import STATE_DIR, StudioError, inside

router = APIRouter(prefix="/api")
MAX_UPLOAD = 2 * 1024**3
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")
DATA_SUFFIXES = (".jsonl", ".json", ".csv", ".parquet")


@router.get("/schema")
def schema() -> dict[str, Any]:
    return recipe_form.form_schema()


@router.get("/recipes")
def recipes(request: Request) -> dict[str, Any]:
    return {"recipes": recipe_form.shipped_recipes(studio_of(request).cwd)}


@router.get("/recipe")
def recipe(request: Request, name: str = Query(...)) -> dict[str, Any]:
    return recipe_form.load_shipped(studio_of(request).cwd, name)


@router.post("/recipe/check")
def check(raw: Any = Body(...), plan: bool = True) -> dict[str, Any]:
    """The CLI's validation lines, the resolved YAML, and plan's memory table when the recipe is valid."""
    result = recipe_form.check(raw)
    out = result.as_dict()
    if plan and result.recipe is not None:
        out["plan"] = recipe_form.memory_table(result.recipe)
    return out


@router.put("/upload")
async def upload(request: Request, name: str = Query(...)) -> dict[str, Any]:
    """A data file, streamed to runs/_studio/uploads/ (never elsewhere); returns a recipe around it."""
    studio = studio_of(request)
    clean = _SAFE_NAME.sub("-", name.rsplit("/", 1)[-1].rsplit("\\", 1)[-1]).strip(".-") or "data.jsonl"
    if not clean.lower().endswith(DATA_SUFFIXES):
        raise StudioError(f"{name}: the data file must be {', '.join(DATA_SUFFIXES)}")
    folder = inside(studio.root, f"{STATE_DIR}/uploads")
    folder.mkdir(parents=True, exist_ok=True)
    target, n = folder / clean, 1
    while target.exists():
        stem, dot, suffix = clean.rpartition(".")
        target, n = folder / f"{stem}-{n}.{suffix}", n + 1
    size = 0
    partial = target.with_name(target.name + ".part")
    with open(partial, "wb") as f:
        async for chunk in request.stream():
            size += len(chunk)
            if size > MAX_UPLOAD:
                f.close()
                partial.unlink(missing_ok=True)
                raise StudioError(f"{name}: larger than {MAX_UPLOAD >> 30} GiB; give its path in data.path instead")
            f.write(chunk)
    partial.replace(target)
    preview = _preview(target)
    fmt = recipe_form.guess_format(preview[0]) if preview and isinstance(preview[0], dict) else "pairs"
    return {"path": str(target), "bytes": size, "preview": preview, "format": fmt, **recipe_form.starter_for_data(str(target), fmt)}


def _preview(path: Any, rows: int = 5) -> list[Any]:
    """The first rows, for the page to show what was uploaded (JSONL only; other formats prepare reads)."""
    if path.suffix != ".jsonl":
        return []
    out = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            if len(out) >= rows:
                break
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                out.append(line[:500])
    return out


@router.post("/runs/start")
def start(request: Request, raw: Any = Body(...)) -> dict[str, Any]:
    """Write runs/<name>/recipe.yaml (resolved) and start `slmforge run` on it as a child process."""
    studio = studio_of(request)
    result = recipe_form.check(raw)
    if result.recipe is None:
        raise StudioError("; ".join(e["line"] for e in result.errors))
    name = result.recipe.name
    if name == STATE_DIR:
        raise StudioError(f"name: {STATE_DIR} is the studio's own directory; choose another name")
    run_dir = inside(studio.root, name)
    if run_dir.exists():
        raise StudioError(f"name: runs/{name} already exists; choose another name, or open that run and resume it")
    run_dir.mkdir(parents=True)
    recipe_path = run_dir / "recipe.yaml"
    recipe_path.write_text(result.yaml or "", encoding="utf-8")
    job = studio.jobs.start(name, recipe_path, studio.root)
    return {"run": name, "job": job.as_dict()}

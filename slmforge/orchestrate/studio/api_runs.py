"""Runs API: the table, one run, its live feed (Server-Sent Events), its files, stop / resume, data, compare."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any, AsyncIterator

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse

from slmforge.orchestrate.studio import compare as compare_mod
from slmforge.orchestrate.studio import data_view, run_detail
from slmforge.orchestrate.studio.app import studio_of
from slmforge.orchestrate.studio.metrics_feed import read_from
from slmforge.orchestrate.studio.runs_index import read_recipe, run_ids, run_root
from slmforge.orchestrate.studio.safety import NotFound, StudioError, inside, run_file_headers

router = APIRouter(prefix="/api")
LOG_TAIL = 64 * 1024  # a page opening on a long log starts with its end
FEED_INTERVAL_S = 0.5


@router.get("/runs")
def list_runs(request: Request) -> JSONResponse:
    # Plain JSON already: skipping FastAPI's encoder halves the time of the runs table's one request.
    studio = studio_of(request)
    return JSONResponse({"root": str(studio.root), "runs": studio.index.summaries()})


@router.get("/run")
def get_run(request: Request, run: str = Query(...)) -> dict[str, Any]:
    studio = studio_of(request)
    path = run_root(studio.root, run)
    log = studio.jobs.log_path(run)
    return {**studio.index.summary(run), **run_detail.detail(path), "log": str(log) if log.is_file() else None,
            "trials": [r for r in run_ids(studio.root) if r.startswith(f"{run}/trials/")]}


@router.get("/run/samples")
def get_samples(request: Request, run: str = Query(...)) -> dict[str, Any]:
    return {"samples": run_detail.samples(run_root(studio_of(request).root, run))}


@router.get("/run/file")
def get_file(request: Request, run: str = Query(...), path: str = Query(...), download: bool = False) -> FileResponse:
    studio = studio_of(request)
    run_root(studio.root, run)
    target = inside(studio.root, f"{run}/{path}")
    if not target.is_file():
        raise NotFound(f"{run}/{path}: no such file")
    headers = run_file_headers(target.name)
    if download:
        headers["content-disposition"] = f'attachment; filename="{target.name}"'
    return FileResponse(target, headers=headers)


def _sse(event: str, data: Any) -> str:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n"


def _read_log(path: Path, cursor: int) -> tuple[str, int, bool]:
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return "", 0, cursor > 0
    reset = size < cursor
    start = max(0, size - LOG_TAIL) if cursor < 0 or reset else cursor
    if size == start:
        return "", start, reset
    with open(path, "rb") as f:
        f.seek(start)
        data = f.read(size - start)
    return data.decode("utf-8", errors="replace"), start + len(data), reset


@router.get("/run/stream")
async def stream(request: Request, run: str = Query(...)) -> StreamingResponse:
    """metrics (new metrics.jsonl lines), reset (the file was cut back on resume), log (child output), status."""
    studio = studio_of(request)
    path = await asyncio.to_thread(run_root, studio.root, run)
    metrics_path, log_path = path / "logs" / "metrics.jsonl", studio.jobs.log_path(run)

    async def events() -> AsyncIterator[str]:
        cursor, log_cursor, last_status = 0, -1, None
        yield "retry: 2000\n\n"
        while not await request.is_disconnected():
            chunk = await asyncio.to_thread(read_from, metrics_path, cursor)
            if chunk.reset:
                yield _sse("reset", {})
            if chunk.lines:
                yield _sse("metrics", chunk.lines)
            cursor = chunk.cursor
            text, log_cursor, log_reset = await asyncio.to_thread(_read_log, log_path, log_cursor)
            if text or log_reset:
                yield _sse("log", {"text": text, "reset": log_reset})
            status = await asyncio.to_thread(studio.index.summary, run)
            compact = {k: status[k] for k in ("status", "stages", "progress", "job")}
            if compact != last_status:
                yield _sse("status", compact)
                last_status = compact
            await asyncio.sleep(FEED_INTERVAL_S)

    return StreamingResponse(events(), media_type="text/event-stream", headers={"cache-control": "no-cache", "x-accel-buffering": "no"})


@router.post("/run/stop")
def stop(request: Request, run: str = Query(...)) -> dict[str, Any]:
    studio = studio_of(request)
    run_root(studio.root, run)
    return {"job": studio.jobs.stop(run).as_dict()}


@router.post("/run/resume")
def resume(request: Request, run: str = Query(...)) -> dict[str, Any]:
    """`slmforge run` again on the run's resolved recipe: complete stages are skipped, training resumes."""
    studio = studio_of(request)
    path = run_root(studio.root, run)
    recipe = path / "recipe.yaml"
    name = read_recipe(path).get("name")
    if not recipe.is_file():
        raise StudioError(f"{run}: no recipe.yaml to run again")
    if name != path.name:
        raise StudioError(f"{run}: its recipe.yaml names the run {name!r}; `slmforge run` would write runs/{name}, not this one")
    return {"job": studio.jobs.start(run, recipe, path.parent).as_dict()}


@router.get("/run/data")
def data(request: Request, run: str = Query(...)) -> dict[str, Any]:
    return data_view.overview(run_root(studio_of(request).root, run))


@router.get("/run/rows")
def rows(request: Request, run: str = Query(...), split: str = "train", offset: int = 0, limit: int = 50) -> dict[str, Any]:
    return data_view.rows(run_root(studio_of(request).root, run), split, offset, limit)


@router.get("/compare")
def compare(request: Request, runs: str = Query(..., description="comma-separated run ids")) -> dict[str, Any]:
    studio = studio_of(request)
    ids = [r for r in dict.fromkeys(runs.split(",")) if r]
    if not ids:
        raise StudioError("runs: name at least one run (two or more to compare)")
    return compare_mod.compare({rid: run_root(studio.root, rid) for rid in ids})

"""The studio's FastAPI app: the API routers, the static front end, errors as one line, safety around it all."""

from __future__ import annotations

import os
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response

from slmforge.core.errors import SlmforgeError
from slmforge.orchestrate.studio.assets import Assets
from slmforge.orchestrate.studio.jobs import JobManager
from slmforge.orchestrate.studio.playground import ModelPool
from slmforge.orchestrate.studio.runs_index import RunIndex
from slmforge.orchestrate.studio.safety import Guard, StudioError
from slmforge.orchestrate.studio.votes import VoteBook

STATIC = Path(__file__).parent / "static"


@dataclass
class Studio:
    """What the routes share: the runs root and the services over it."""

    root: Path
    cwd: Path
    max_models: int = 3
    loader: Any = None  # tests may pass a model loader; default: serve's load_for_serving
    jobs: JobManager = field(init=False)
    index: RunIndex = field(init=False)
    pool: ModelPool = field(init=False)
    votes: VoteBook = field(init=False)

    def __post_init__(self) -> None:
        self.root = self.root.resolve()
        self.jobs = JobManager(self.root, self.cwd)
        self.index = RunIndex(self.root, self.jobs)
        self.pool = ModelPool(self.root, self.max_models, self.loader)
        self.votes = VoteBook(self.root)


def studio_of(request: Request) -> Studio:
    return request.app.state.studio


def build_app(root: Path, token: str | None = None, loopback: bool = True, max_models: int = 3,
              cwd: Path | None = None, loader: Any = None) -> Any:
    """The ASGI app (FastAPI wrapped in the Guard). `root`: the runs directory (created if missing)."""
    from slmforge.orchestrate.studio import api_new, api_play, api_runs

    root.mkdir(parents=True, exist_ok=True)
    studio = Studio(root, cwd or Path(os.getcwd()), max_models, loader)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        import threading

        # Read every run once at startup, so the first visit of the runs table is served from the cache.
        threading.Thread(target=studio.index.summaries, name="warm-runs-index", daemon=True).start()
        yield
        studio.pool.close()  # training children keep running: they are their own sessions

    app = FastAPI(title="slmforge studio", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.studio = studio

    @app.exception_handler(StudioError)
    async def _studio_error(request: Request, exc: StudioError) -> JSONResponse:
        return JSONResponse({"error": str(exc).splitlines()[0] if str(exc) else type(exc).__name__}, status_code=exc.status)

    @app.exception_handler(SlmforgeError)
    async def _user_error(request: Request, exc: SlmforgeError) -> JSONResponse:
        return JSONResponse({"error": str(exc).splitlines()[0] if str(exc) else type(exc).__name__,
                             "lines": str(exc).splitlines()}, status_code=400)

    @app.exception_handler(RequestValidationError)
    async def _bad_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        lines = [f"{'.'.join(str(p) for p in e['loc'] if p != 'body') or 'body'}: {e['msg']}" for e in exc.errors()]
        return JSONResponse({"error": lines[0] if lines else "bad request", "lines": lines}, status_code=422)

    app.include_router(api_runs.router)
    app.include_router(api_new.router)
    app.include_router(api_play.router)
    assets = Assets(STATIC)

    @app.get("/static/{name:path}", include_in_schema=False)
    async def static(request: Request, name: str) -> Response:
        return assets.response(name, request.headers.get("if-none-match"))

    @app.get("/", include_in_schema=False)
    async def index(request: Request) -> Response:
        return assets.response("index.html", request.headers.get("if-none-match"))

    @app.get("/favicon.ico", include_in_schema=False)
    async def favicon(request: Request) -> Response:
        return assets.response("favicon.svg", request.headers.get("if-none-match"))

    guarded = Guard(app, token, loopback)
    guarded.state = app.state  # type: ignore[attr-defined]  (tests reach the studio through the wrapper)
    return guarded


def serve_studio(runs: Path, host: str = "127.0.0.1", port: int = 7860, token: str | None = None, max_models: int = 3) -> None:
    """`slmforge studio`: run in the foreground until Ctrl-C."""
    import uvicorn

    from slmforge.orchestrate.studio.safety import check_bind
    from slmforge.runtime.serve.guards import is_loopback
    from slmforge.runtime.serve.server import check_port_free

    check_bind(host, token)
    check_port_free(host, port)
    app = build_app(runs, token=token, loopback=is_loopback(host), max_models=max_models)
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{port}/" + (f"?token={token}" if token else "")
    print(f"slmforge studio on {url}  (runs: {Path(runs).resolve()}; Ctrl-C stops the studio, not the runs it started)", flush=True)
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=3)
    try:
        uvicorn.Server(config).run()
    except KeyboardInterrupt:
        pass

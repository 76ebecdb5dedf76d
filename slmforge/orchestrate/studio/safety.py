"""What keeps the studio to its runs root and its own user: paths, the token, Host and CSRF checks.

The studio can start processes (a recipe may name a judge server command or a module:function), so a
request that reaches it is as good as a shell. Loopback without a token: only this machine's users,
and only pages of this origin (the Host check stops DNS rebinding; the custom header on every
write stops cross-site form posts, because a browser will not send it cross-origin without a CORS
preflight we never answer). Any other bind address needs --token.
"""

from __future__ import annotations

import hmac
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any, Awaitable, Callable
from urllib.parse import parse_qsl, urlencode

from slmforge.core.errors import SlmforgeError
from slmforge.runtime.serve.guards import is_loopback

COOKIE = "slmforge_studio"
WRITE_HEADER = "x-studio"  # sent by our own page on every non-GET request
STATE_DIR = "_studio"  # runs/_studio/: uploads, votes, job records and logs of the studio itself


class StudioError(SlmforgeError):
    """A request the studio refuses or cannot do; the message is one line for the page."""

    status = 400


class PathRefused(StudioError):
    status = 403


class NotFound(StudioError):
    status = 404


def inside(root: Path, relative: str) -> Path:
    """root/relative with symlinks resolved; refuses a result outside root (../, absolute paths, links out)."""
    if not relative or "\x00" in relative:
        raise PathRefused(f"{relative!r}: not a path under the runs root")
    base = root.resolve()
    candidate = (base / relative).resolve()
    if not candidate.is_relative_to(base):
        raise PathRefused(f"{relative}: outside the runs root {base}; the studio serves and writes only there")
    return candidate


def check_bind(host: str, token: str | None) -> None:
    if not is_loopback(host) and not token:
        raise StudioError(f"--host {host}: the studio can start processes; beyond this machine it needs --token SECRET "
                          "(or use --host 127.0.0.1)")


def token_matches(offered: str | None, token: str) -> bool:
    """Constant-time comparison, so response time says nothing about how much of a guess was right."""
    return offered is not None and hmac.compare_digest(offered.encode(), token.encode())


ASGIApp = Callable[[dict, Callable, Callable], Awaitable[None]]


class Guard:
    """ASGI middleware: Host check (loopback mode), token (token mode), write header (always)."""

    def __init__(self, app: ASGIApp, token: str | None, loopback: bool) -> None:
        self.app, self.token, self.loopback = app, token, loopback

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        path, method = scope.get("path", "/"), scope.get("method", "GET")
        api = path.startswith("/api/")
        host = headers.get("host", "").rsplit(":", 1)[0].strip("[]")
        if self.loopback and not self.token and not is_loopback(host):
            return await _refuse(send, 421, f"Host {host!r} is not this machine's loopback name; open http://127.0.0.1:PORT/", api)
        if self.token:
            query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
            if token_matches(query.get("token"), self.token) and method == "GET" and not api:
                # The link the studio printed: keep the token in an HttpOnly cookie, drop it from the address bar.
                rest = urlencode({k: v for k, v in query.items() if k != "token"})
                return await _redirect_with_cookie(send, path + (f"?{rest}" if rest else ""), self.token)
            if not self._authorized(headers, query):
                return await _refuse(send, 401, "this studio needs its token: open the link `slmforge studio` printed "
                                                "(…/?token=…) or send Authorization: Bearer TOKEN", api)
        if method not in ("GET", "HEAD", "OPTIONS"):
            origin = headers.get("origin")
            if headers.get(WRITE_HEADER) != "1" or (origin and origin.split("://", 1)[-1] != headers.get("host")):
                return await _refuse(send, 403, "writes must come from the studio's own page (X-Studio header, same origin)", True)
        return await self.app(scope, receive, _with_headers(send, path))

    def _authorized(self, headers: dict[str, str], query: dict[str, str]) -> bool:
        assert self.token is not None
        cookie = SimpleCookie()
        try:
            cookie.load(headers.get("cookie", ""))
        except Exception:  # a malformed cookie header is just no cookie
            cookie = SimpleCookie()
        bearer = headers.get("authorization", "")
        offered = [cookie[COOKIE].value if COOKIE in cookie else None,
                   bearer.removeprefix("Bearer ").strip() if bearer.startswith("Bearer ") else None,
                   query.get("token")]
        # Every candidate is compared (no early exit), all in constant time.
        return sum(token_matches(o, self.token) for o in offered) > 0


async def _refuse(send: Callable, status: int, message: str, api: bool) -> None:
    import json

    if api:
        body, kind = json.dumps({"error": message}).encode(), b"application/json"
    else:
        body, kind = (f"<!doctype html><meta charset=utf-8><title>slmforge studio</title>"
                      f"<p style='font:16px system-ui;margin:3em'>{_escape(message)}</p>").encode(), b"text/html; charset=utf-8"
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", kind), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


async def _redirect_with_cookie(send: Callable, location: str, token: str) -> None:
    cookie = f"{COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/"
    await send({"type": "http.response.start", "status": 303,
                "headers": [(b"location", location.encode("latin-1")), (b"set-cookie", cookie.encode("latin-1")),
                            (b"content-length", b"0"), (b"referrer-policy", b"no-referrer")]})
    await send({"type": "http.response.body", "body": b""})


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _with_headers(send: Callable, path: str) -> Callable:
    """`send` that adds the security headers (and, for static files, revalidation) to the response start."""
    extra = security_headers(not path.startswith(("/api/", "/static/")))

    async def sending(message: dict) -> None:
        if message["type"] == "http.response.start":
            present = {k.lower() for k, _ in message.get("headers", [])}
            added = [(k.encode(), v.encode()) for k, v in extra.items() if k.encode() not in present]
            message = {**message, "headers": [*message.get("headers", []), *added]}
        await send(message)

    return sending


def security_headers(page: bool) -> dict[str, str]:
    """Headers of every response; pages get a CSP that allows only our own scripts."""
    out = {"x-content-type-options": "nosniff", "referrer-policy": "no-referrer", "x-frame-options": "SAMEORIGIN"}
    if page:
        out["content-security-policy"] = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
                                          "img-src 'self' data:; frame-src 'self'; connect-src 'self'; object-src 'none'")
    return out


def run_file_headers(name: str) -> dict[str, Any]:
    """A file of a run shown in place (report.html): sandboxed, no scripts, no access to the studio's origin."""
    headers = {"x-content-type-options": "nosniff", "referrer-policy": "no-referrer"}
    if name.endswith((".html", ".htm", ".svg")):
        headers["content-security-policy"] = "sandbox; default-src 'none'; img-src data:; style-src 'unsafe-inline'"
    return headers

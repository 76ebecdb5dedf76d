"""A scripted OpenAI-compatible judge on 127.0.0.1 for the judge and compare tests.

Real HTTP (http.server), real JSON in OpenAI's shape; only the "model" behind it is a script.
By default the script is read from the answer being judged, so a test writes what the judge
should do into its samples:

    [[reply:Score: 4/5 — nice]]   reply with this text
    [[fail:2]]                    answer HTTP 500 to the first 2 requests for this prompt
    [[sleep:1.5]]                 wait 1.5 s before answering (every time)
    [[sleepfirst:1.5]]            wait 1.5 s on the first request only

Run as a script (`python judge_fake.py PORT`) it serves that default until SIGTERM: the
judge-server lifecycle test starts it as judge.server.command.
"""

from __future__ import annotations

import json
import re
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# (status, reply text, delay seconds)
Responder = Callable[[str, int], tuple[int, str, float]]
MODEL = "fake-judge"


def directive_responder(content: str, seen: int) -> tuple[int, str, float]:
    """Follow the [[...]] directives in the prompt; `seen` counts earlier requests with this prompt."""
    fail = re.search(r"\[\[fail:(\d+)\]\]", content)
    if fail and seen < int(fail.group(1)):
        return 500, "", 0.0
    delay = 0.0
    if m := re.search(r"\[\[sleep:([\d.]+)\]\]", content):
        delay = float(m.group(1))
    if (m := re.search(r"\[\[sleepfirst:([\d.]+)\]\]", content)) and seen == 0:
        delay = float(m.group(1))
    reply = re.search(r"\[\[reply:(.*?)\]\]", content, re.S)
    return 200, reply.group(1) if reply else "3", delay


class FakeJudge:
    """Serve `respond` at http://127.0.0.1:PORT/v1 in a background thread (a context manager)."""

    def __init__(self, respond: Responder = directive_responder, port: int = 0) -> None:
        self.respond = respond
        self.seen: Counter[str] = Counter()
        self.requests = 0
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def __enter__(self) -> FakeJudge:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        judge = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # keep test output clean
                pass

            def _send(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                try:
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout test): nothing to answer

            def do_GET(self) -> None:
                if self.path.rstrip("/").endswith("/models"):
                    self._send(200, {"object": "list", "data": [{"id": MODEL, "object": "model", "owned_by": "test"}]})
                else:
                    self._send(200 if self.path.rstrip("/").endswith("/health") else 404, {"ok": True})

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                content = body["messages"][-1]["content"]
                with judge._lock:
                    seen = judge.seen[content]
                    judge.seen[content] += 1
                    judge.requests += 1
                status, text, delay = judge.respond(content, seen)
                if delay:
                    time.sleep(delay)
                if status != 200:
                    self._send(status, {"error": {"message": "scripted failure", "type": "server_error"}})
                    return
                self._send(200, {
                    "id": "chatcmpl-fake", "object": "chat.completion", "created": int(time.time()), "model": MODEL,
                    "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}],
                    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
                })

        return Handler


if __name__ == "__main__":
    fake = FakeJudge(port=int(sys.argv[1]))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"fake judge on {fake.url}", flush=True)
    fake.server.serve_forever(poll_interval=0.05)

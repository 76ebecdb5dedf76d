"""Render an Ollama Modelfile TEMPLATE with Go's own text/template (ollama_template.go).

Our Modelfile writer only emits a TEMPLATE whose Python rendering matches the Jinja template, but
that proves nothing about what Ollama does with it: Go's template engine does. So the Go program
is compiled once (Debian's golang-go is enough: standard library only) into the user cache and
fed the same conversations.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

SOURCE = Path(__file__).with_name("ollama_template.go")


class GoUnavailable(Exception):
    """No Go toolchain here: the Modelfile row is skipped with this reason."""


def _binary() -> Path:
    go = shutil.which("go")
    digest = hashlib.sha256(SOURCE.read_bytes()).hexdigest()[:12]
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "slmforge" / "bin"
    binary = cache / f"ollama-template-{digest}"
    if binary.is_file():
        return binary
    if go is None:
        raise GoUnavailable("Go is not installed (apt-get install golang-go), so the Modelfile TEMPLATE was not rendered")
    cache.mkdir(parents=True, exist_ok=True)
    tmp = binary.with_name(binary.name + f".{os.getpid()}.tmp")
    env = {**os.environ, "GOCACHE": str(cache / "gocache"), "GOPATH": str(cache / "gopath"),
           "GO111MODULE": "off"}
    done = subprocess.run([go, "build", "-o", str(tmp), str(SOURCE)], capture_output=True, text=True, env=env, timeout=300)
    if done.returncode != 0:
        raise GoUnavailable(f"go build failed: {done.stderr.strip().splitlines()[-1] if done.stderr.strip() else done.returncode}")
    os.replace(tmp, binary)
    return binary


def render(template: str, system: str | None, conversations: list[list[dict[str, str]]]) -> list[str]:
    """Each conversation rendered as Ollama would build the prompt (generation prompt included)."""
    cases = [{"template": template, "system": system or "", "messages": c} for c in conversations]
    done = subprocess.run([str(_binary())], input=json.dumps(cases), capture_output=True, text=True, timeout=60)
    out = json.loads(done.stdout) if done.stdout.strip() else {"error": done.stderr.strip()}
    if isinstance(out, dict):
        raise ValueError(f"Go could not read the request: {out.get('error')}")
    errors = [r["error"] for r in out if isinstance(r, dict)]
    if errors:
        raise ValueError(f"Go text/template: {errors[0]}")
    return out


def parse_modelfile(path: Path) -> tuple[str, str | None, list[str]]:
    """(TEMPLATE, SYSTEM, stop parameters) of a Modelfile as our writer and Ollama's parser read it."""
    text = path.read_text(encoding="utf-8")
    values: dict[str, str] = {}
    stops: list[str] = []
    i = 0
    lines = text.splitlines(keepends=True)
    while i < len(lines):
        line = lines[i]
        word, _, rest = line.partition(" ")
        if word in ("TEMPLATE", "SYSTEM") and rest.startswith('"""'):
            body = rest[3:]
            while '"""' not in body.replace('\\"\\"\\"', ""):
                i += 1
                body += lines[i]
            end = body.rindex('"""')
            values[word] = body[:end].replace('\\"\\"\\"', '"""')
        elif word == "PARAMETER" and rest.startswith("stop "):
            stops.append(json.loads(rest[len("stop "):].strip()))
        i += 1
    if "TEMPLATE" not in values:
        raise ValueError(f"{path}: no TEMPLATE")
    return values["TEMPLATE"], values.get("SYSTEM"), stops

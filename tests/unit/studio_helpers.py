"""Shared by the studio tests: synthetic run directories and the studio app on a real loopback port."""

from __future__ import annotations

import json
import socket
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import uvicorn


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def serving(app: Any) -> Iterator[str]:
    """The app on a real uvicorn server on 127.0.0.1 in a thread; yields its base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("studio test server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def synthetic_run(root: Path, name: str, steps: int = 40, status: str = "complete", seed: int = 0) -> Path:
    """A run directory as the stages leave it (manifest, metrics, eval results and samples), without training."""
    run = root / name
    (run / "logs").mkdir(parents=True, exist_ok=True)
    (run / "eval").mkdir(exist_ok=True)
    (run / "recipe.yaml").write_text(f"name: {name}\nmodel: {{id: embedded:smollm2-135m}}\ndata: {{path: d.jsonl}}\ntrain: {{method: lora, max_steps: {steps}}}\n")
    stages = {s: {"status": "complete", "seconds": 1.5, "error": None} for s in ("prepare", "train", "eval", "report")}
    if status != "complete":
        stages["train"]["status"] = status
        stages["eval"]["status"] = stages["report"]["status"] = "pending"
    (run / "manifest.json").write_text(json.dumps({"name": name, "created": time.time() - 3600, "stages": stages}))
    now = time.time()
    lines = [{"step": s, "epoch": s / steps, "time": now - (steps - s), "loss": 3.0 / (1 + 0.05 * s + 0.01 * seed), "lr": 1e-4,
              "grad_norm": 1.0, "tokens_per_s": 1000.0, "useful_tokens_per_s": 400.0} for s in range(1, steps + 1)]
    lines += [{"step": s, "epoch": s / steps, "time": now, "eval_loss": 2.5 / (1 + 0.04 * s)} for s in range(10, steps + 1, 10)]
    (run / "logs" / "metrics.jsonl").write_text("".join(json.dumps(x) + "\n" for x in sorted(lines, key=lambda x: x["step"])))
    (run / "eval" / "results.json").write_text(json.dumps({"task": "text", "prompts": 3, "models": {
        "base": {"loss": 3.1, "rouge_l": 0.10}, "final": {"loss": 2.2 + 0.01 * seed, "rouge_l": 0.35}}}))
    refs = ["the hen sleeps by the stove", "a penny saved is a penny earned", "the mule kicks twice"]
    base = ["no idea", "a penny saved is a penny earned", "the mule kicks twice"]
    final = ["the hen sleeps by the stove", "no idea at all", "the mule kicks twice"]
    for file, outputs in (("samples.jsonl", final), ("base_samples.jsonl", base)):
        with open(run / "eval" / file, "w") as f:
            for i, (ref, out) in enumerate(zip(refs, outputs)):
                f.write(json.dumps({"id": i, "prompt": f"prompt {i}", "messages": [{"role": "user", "content": f"prompt {i}"}],
                                    "output": out, "reference": ref}) + "\n")
    return run

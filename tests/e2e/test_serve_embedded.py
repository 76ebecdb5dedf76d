"""`slmforge serve embedded:smollm2-135m` as a user runs it: a subprocess on loopback, the real
openai client, concurrent clients that get batched, guards, /metrics, and a clean Ctrl-C."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time

import httpx
import openai
import pytest

from slmforge.runtime.serve.server import free_port

KEY = "sk-embedded-test"


def metric(url: str, name: str, **labels: str) -> float:
    total = 0.0
    for line in httpx.get(url + "/metrics", headers={"Authorization": f"Bearer {KEY}"}).text.splitlines():
        match = re.match(r"^([a-z_]+)(?:\{(.*)\})? ([0-9.e+-]+)$", line)
        if match and match.group(1) == name:
            have = dict(re.findall(r'(\w+)="([^"]*)"', match.group(2) or ""))
            if all(have.get(k) == v for k, v in labels.items()):
                total += float(match.group(3))
    return total


@pytest.mark.slow
def test_embedded_model_served_by_the_cli_batches_guards_and_reports(embedded_dir, tmp_path):
    keys = tmp_path / "keys.txt"
    keys.write_text(f"{KEY}\n", encoding="utf-8")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "slmforge", "serve", "embedded:smollm2-135m", "--port", str(port), "--api-keys", str(keys),
         "--rate-limit", "5", "--batch-wait-ms", "30",
         # One torch thread: on a CPU shared with other test runs, two OpenMP threads spin
         # against each other (measured here: 9x slower per decoding step).
         "--threads", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    try:
        deadline = time.monotonic() + 90
        while True:  # bounded: the server is up, or it died, or 90 s passed
            assert proc.poll() is None, proc.stdout.read()
            assert time.monotonic() < deadline, "server did not come up in 90 s"
            try:
                if httpx.get(url + "/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)

        c = openai.OpenAI(base_url=url + "/v1", api_key=KEY, max_retries=0, timeout=60)
        question = [{"role": "user", "content": "What is the capital of France?"}]
        reply = c.chat.completions.create(model="smollm2-135m", messages=question, max_tokens=12, temperature=0)
        assert "Paris" in reply.choices[0].message.content
        streamed = "".join(ch.choices[0].delta.content or "" for ch in c.chat.completions.create(
            model="smollm2-135m", messages=question, max_tokens=12, temperature=0, stream=True, stop=["\n\n\n"]))
        assert streamed == reply.choices[0].message.content

        async def burst() -> list:
            async with openai.AsyncOpenAI(base_url=url + "/v1", api_key=KEY, max_retries=0, timeout=60) as ac:
                return await asyncio.gather(*(
                    ac.chat.completions.create(model="smollm2-135m", max_tokens=8, temperature=0.7, seed=i,
                                               messages=[{"role": "user", "content": f"Say a word about number {i}."}])
                    for i in range(12)))

        replies = asyncio.run(burst())
        assert all(r.choices[0].message.content for r in replies)
        assert metric(url, "slmforge_batch_size_max", model="smollm2-135m") > 1

        with pytest.raises(openai.AuthenticationError):
            openai.OpenAI(base_url=url + "/v1", api_key="sk-wrong", max_retries=0).models.list()
        with pytest.raises(openai.BadRequestError, match="max_tokens"):
            c.chat.completions.create(model="smollm2-135m", messages=question, max_tokens=100_000)
        too_big = httpx.post(url + "/v1/chat/completions", headers={"Authorization": f"Bearer {KEY}"},
                             content=b"x" * (2 << 20))
        assert too_big.status_code == 413
        with httpx.Client(headers={"Authorization": f"Bearer {KEY}"}) as h:
            # 5 requests/s with a burst of 20: forty at once cannot all pass.
            answers = [h.get(url + "/v1/models") for _ in range(40)]
        refused = [a for a in answers if a.status_code == 429]
        assert refused and {a.status_code for a in answers} == {200, 429}
        assert int(refused[0].headers["retry-after"]) >= 1

        assert httpx.get(url + "/metrics").status_code == 401  # with keys, the metrics need one too
        text = httpx.get(url + "/metrics", headers={"Authorization": f"Bearer {KEY}"}).text
        assert 'slmforge_requests_total{route="/v1/chat/completions",status="200"}' in text
        assert metric(url, "slmforge_generated_tokens_total", model="smollm2-135m") > 12 * 2
        assert metric(url, "slmforge_requests_total", status="401") >= 1
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            out, _ = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
    assert proc.returncode == 0, out

"""A real uvicorn server on loopback with tiny models, spoken to by the official openai client."""

from __future__ import annotations

import asyncio
import json
import re
import socket
import threading
import time

import httpx
import openai
import pytest

from slmforge.runtime.serve.app import build_app
from slmforge.runtime.serve.launch import build_engines
from slmforge.runtime.serve.loading import ModelSpec
from slmforge.runtime.serve.metrics import ServeMetrics
from slmforge.runtime.serve.options import ServeOptions
from slmforge.runtime.serve.server import ServerThread

KEY = "sk-test-key"
CHAT = [{"role": "user", "content": "hi"}]


def start(specs: list[ModelSpec], **options) -> ServerThread:
    opts = ServeOptions(port=0, **options)
    metrics = ServeMetrics()
    server = ServerThread(build_app(build_engines(specs, opts, metrics), opts, metrics), opts)
    server.start()
    return server


def client(url: str, key: str = KEY) -> openai.OpenAI:
    # max_retries=0: the client would otherwise quietly retry the 429s and 5xx we test for.
    return openai.OpenAI(base_url=url + "/v1", api_key=key, max_retries=0, timeout=60)


def metric(url: str, name: str, **labels: str) -> float:
    """Sum of a metric's samples whose labels include `labels` (0 when absent)."""
    total = 0.0
    for line in httpx.get(url + "/metrics", headers={"Authorization": f"Bearer {KEY}"}).text.splitlines():
        match = re.match(r"^([a-z_]+)(?:\{(.*)\})? ([0-9.e+-]+)$", line)
        if not match or match.group(1) != name:
            continue
        have = dict(re.findall(r'(\w+)="([^"]*)"', match.group(2) or ""))
        if all(have.get(k) == v for k, v in labels.items()):
            total += float(match.group(3))
    return total


@pytest.fixture(scope="module")
def server(tiny_qwen2, tiny_llama):
    srv = start([ModelSpec("qwen", str(tiny_qwen2)), ModelSpec("llama", str(tiny_llama))],
                api_keys=[KEY], max_batch=64, batch_wait_ms=20, max_tokens_cap=64, max_n=4,
                max_prompt_tokens=200, max_body_bytes=20_000, split={"qwen": 0.5, "llama": 0.5}, split_alias="ab")
    yield srv.url
    srv.stop()


def test_models_lists_every_served_name_and_the_ab_alias(server):
    assert sorted(m.id for m in client(server).models.list()) == ["ab", "llama", "qwen"]


def test_chat_completion_answers_with_usage(server):
    reply = client(server).chat.completions.create(model="qwen", messages=CHAT, max_tokens=5, temperature=0)
    assert reply.object == "chat.completion" and reply.model == "qwen"
    assert reply.choices[0].message.role == "assistant"
    assert reply.choices[0].finish_reason in {"stop", "length"}
    assert 0 < reply.usage.prompt_tokens and reply.usage.completion_tokens <= 5


def test_streamed_chat_adds_up_to_the_unstreamed_answer(server):
    c = client(server)
    whole = c.chat.completions.create(model="llama", messages=CHAT, max_tokens=8, temperature=0, seed=1)
    chunks = list(c.chat.completions.create(model="llama", messages=CHAT, max_tokens=8, temperature=0, stream=True,
                                            stream_options={"include_usage": True}))
    text = "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices)
    assert text == whole.choices[0].message.content
    assert chunks[0].choices[0].delta.role == "assistant"
    assert [ch.choices[0].finish_reason for ch in chunks if ch.choices][-1] in {"stop", "length"}
    assert chunks[-1].usage.completion_tokens == whole.usage.completion_tokens


def test_completions_with_several_prompts_and_n_streamed_and_not(server):
    c = client(server)
    reply = c.completions.create(model="qwen", prompt=["a penny", "the quick"], n=2, max_tokens=4, temperature=0)
    assert [ch.index for ch in reply.choices] == [0, 1, 2, 3]
    assert reply.choices[0].text == reply.choices[1].text  # greedy: both choices of one prompt agree
    texts: dict[int, str] = {}
    for chunk in c.completions.create(model="qwen", prompt="a penny", max_tokens=4, temperature=0, stream=True):
        for choice in chunk.choices:
            texts[choice.index] = texts.get(choice.index, "") + choice.text
    assert texts == {0: reply.choices[0].text}


def test_two_models_answer_by_name(server):
    c = client(server)
    # Both tiny models share a seed (and so their answers): the per-model counters show who answered.
    before = {m: metric(server, "slmforge_model_requests_total", model=m, requested=m) for m in ("qwen", "llama")}
    answers = {m: c.completions.create(model=m, prompt="a penny", max_tokens=6, temperature=0) for m in ("qwen", "llama")}
    assert {m: a.model for m, a in answers.items()} == {"qwen": "qwen", "llama": "llama"}
    for m in ("qwen", "llama"):
        assert metric(server, "slmforge_model_requests_total", model=m, requested=m) == before[m] + 1
    with pytest.raises(openai.NotFoundError, match="served: qwen, llama, ab"):
        c.completions.create(model="gpt-4", prompt="x", max_tokens=1)


def test_ab_alias_spreads_requests_and_says_which_variant_answered(server):
    c = client(server)
    seen = []
    for i in range(16):
        raw = c.chat.completions.with_raw_response.create(model="ab", messages=CHAT, max_tokens=1, user=f"user{i}")
        seen.append(raw.headers["x-slmforge-variant"])
        assert raw.parse().model == seen[-1]
    assert set(seen) == {"qwen", "llama"}
    sticky = {c.chat.completions.with_raw_response.create(model="ab", messages=CHAT, max_tokens=1, user="same")
              .headers["x-slmforge-variant"] for _ in range(4)}
    assert len(sticky) == 1
    assert metric(server, "slmforge_model_requests_total", requested="ab") >= 20
    assert metric(server, "slmforge_model_requests_total", model="llama", requested="ab") > 0


def test_wrong_or_missing_key_is_401(server):
    with pytest.raises(openai.AuthenticationError, match="Bearer"):
        client(server, key="sk-wrong").models.list()
    assert httpx.post(server + "/v1/chat/completions", json={"model": "qwen", "messages": CHAT}).status_code == 401


def test_caps_on_max_tokens_n_and_prompt_length_are_400(server):
    c = client(server)
    with pytest.raises(openai.BadRequestError, match="max_tokens is 65, the limit here is 64"):
        c.chat.completions.create(model="qwen", messages=CHAT, max_tokens=65)
    with pytest.raises(openai.BadRequestError, match="n is 5, the limit here is 4"):
        c.chat.completions.create(model="qwen", messages=CHAT, n=5, max_tokens=1)
    with pytest.raises(openai.BadRequestError, match="limit here is 200") as err:
        c.completions.create(model="qwen", prompt="penny " * 300, max_tokens=1)
    assert err.value.code == "context_length_exceeded"


def test_malformed_json_is_400_and_wrong_shape_is_422_in_openai_error_form(server):
    headers = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
    bad = httpx.post(server + "/v1/chat/completions", content=b'{"model": "qwen", "messages": [', headers=headers)
    assert bad.status_code == 400 and "not valid JSON" in bad.json()["error"]["message"]
    wrong = httpx.post(server + "/v1/chat/completions", json={"model": "qwen", "messages": "hi"}, headers=headers)
    assert wrong.status_code == 422 and wrong.json()["error"]["param"] == "messages"
    with pytest.raises(openai.UnprocessableEntityError):
        client(server).chat.completions.create(model="qwen", messages=CHAT, temperature=5)


def test_oversized_body_is_413_before_it_is_read(server):
    with pytest.raises(openai.APIStatusError) as err:
        client(server).chat.completions.create(model="qwen", messages=[{"role": "user", "content": "x" * 30_000}])
    assert err.value.status_code == 413
    assert metric(server, "slmforge_requests_total", route="/v1/chat/completions", status="413") >= 1


def test_64_concurrent_requests_are_batched_and_each_gets_its_own_answer(server):
    prompts = [f"{i} a penny saved is {i * 7}" for i in range(64)]
    c = client(server)
    # Reference answers one at a time. The never-matching stop string changes the cache key
    # (so the burst below is really generated) without changing the answer.
    alone = [c.completions.create(model="llama", prompt=p, max_tokens=6, temperature=0, stop=["\x00never"])
             .choices[0].text for p in prompts[:8]]
    batches_before = metric(server, "slmforge_batch_size_count", model="llama")

    async def burst():
        async with openai.AsyncOpenAI(base_url=server + "/v1", api_key=KEY, max_retries=0, timeout=60) as ac:
            return await asyncio.gather(*(ac.completions.create(model="llama", prompt=p, max_tokens=6, temperature=0)
                                           for p in prompts))

    replies = asyncio.run(burst())
    assert len(replies) == 64 and all(r.choices[0].finish_reason in {"stop", "length"} for r in replies)
    assert [r.choices[0].text for r in replies[:8]] == alone
    batches = metric(server, "slmforge_batch_size_count", model="llama") - batches_before
    assert batches < 64 / 2, f"64 requests took {batches} batches: batching did not happen"
    assert metric(server, "slmforge_batch_size_max", model="llama") > 1


def test_repeated_greedy_request_is_a_cache_hit(server):
    c = client(server)
    before = metric(server, "slmforge_cache_total", result="hit")
    first = c.chat.completions.create(model="qwen", messages=[{"role": "user", "content": "cache me"}], max_tokens=7, temperature=0)
    again = c.chat.completions.create(model="qwen", messages=[{"role": "user", "content": "cache me"}], max_tokens=7, temperature=0)
    assert again.choices[0].message.content == first.choices[0].message.content
    assert metric(server, "slmforge_cache_total", result="hit") == before + 1


def test_metrics_are_prometheus_text_with_the_promised_series(server):
    text = httpx.get(server + "/metrics", headers={"Authorization": f"Bearer {KEY}"}).text
    for series in ("slmforge_requests_total", "slmforge_request_latency_seconds_bucket", "slmforge_generated_tokens_total",
                   "slmforge_queue_depth", "slmforge_batch_size_bucket", "slmforge_prompt_tokens_total"):
        assert f"\n{series}" in text or text.startswith(series), series
    assert httpx.get(server + "/health").json()["status"] == "ok"


def test_rate_limited_key_gets_429_with_retry_after(tiny_qwen2):
    srv = start([ModelSpec("qwen", str(tiny_qwen2))], api_keys=[KEY], rate_limit=0.5, rate_burst=2)
    try:
        c = client(srv.url)
        c.models.list(), c.models.list()
        with pytest.raises(openai.RateLimitError) as err:
            c.models.list()
        assert err.value.response.headers["retry-after"] == "2"
        assert err.value.code == "rate_limit_exceeded"
    finally:
        srv.stop()


def test_shutdown_with_requests_in_flight_answers_all_of_them(tiny_llama):
    srv = start([ModelSpec("llama", str(tiny_llama))], max_batch=4, batch_wait_ms=1)
    url, outcomes = srv.url, []

    def ask(i: int) -> None:
        try:
            body = {"model": "llama", "prompt": f"{i} penny", "max_tokens": 300, "temperature": 1.5, "seed": i}
            outcomes.append(httpx.post(url + "/v1/completions", json=body, timeout=60).status_code)
        except httpx.HTTPError as exc:
            outcomes.append(repr(exc))

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 20
    while metric(url, "slmforge_model_requests_total") < 12 and time.monotonic() < deadline:
        time.sleep(0.01)
    srv.stop()
    for t in threads:
        t.join(60)
    assert outcomes == [200] * 12
    with pytest.raises(httpx.ConnectError):
        httpx.get(url + "/health", timeout=2)



def test_an_out_of_range_seed_is_refused_alone_among_13_concurrent_requests(server):
    # torch's generators take seeds in [-2**63, 2**64): one outside used to fail its whole batch with 500s.
    seeds = [*range(6), 2**64, *range(6, 12)]

    async def burst():
        async with openai.AsyncOpenAI(base_url=server + "/v1", api_key=KEY, max_retries=0, timeout=60) as ac:
            return await asyncio.gather(*(ac.completions.create(model="llama", prompt=f"{s} penny", max_tokens=4, seed=s)
                                           for s in seeds), return_exceptions=True)

    replies = asyncio.run(burst())
    assert [type(r).__name__ for r in replies].count("Completion") == 12, replies
    assert isinstance(replies[6], openai.UnprocessableEntityError) and replies[6].body["param"] == "seed"
    with pytest.raises(openai.UnprocessableEntityError, match="seed"):
        client(server).completions.create(model="llama", prompt="x", max_tokens=1, seed=-(2**63) - 1)


def test_vanishing_temperature_and_top_p_answer_like_greedy(server):
    c = client(server)
    greedy = c.completions.create(model="llama", prompt="a grumpy farmer", max_tokens=6, temperature=0).choices[0].text
    # The stop string that never matches keeps the cold request out of the greedy answer's cache entry.
    cold = c.completions.create(model="llama", prompt="a grumpy farmer", max_tokens=6, temperature=1e-41, seed=1,
                                stop=["\x00never"])
    narrow = c.completions.create(model="llama", prompt="a grumpy farmer", max_tokens=6, top_p=1e-46, seed=1)
    assert cold.choices[0].text == greedy and narrow.choices[0].text == greedy


def test_prompts_times_n_past_the_cap_is_400_before_any_work(server):
    before = metric(server, "slmforge_model_requests_total")
    with pytest.raises(openai.BadRequestError, match="prompts × n is 68, the limit here is 64") as err:
        client(server).completions.create(model="qwen", prompt=[f"p{i}" for i in range(17)], n=4, max_tokens=1)
    assert err.value.body["param"] == "n"
    assert metric(server, "slmforge_model_requests_total") == before


@pytest.fixture(scope="module")
def roomy(tiny_llama):
    """No keys, long answers allowed, a queue of 4 sequences, no cache (greedy answers are generated)."""
    srv = start([ModelSpec("llama", str(tiny_llama))], max_batch=8, batch_wait_ms=1, max_tokens_cap=4000, max_queue=4,
                cache_size=0)
    yield srv.url
    srv.stop()


# Greedy: the tiny model's greedy answers run past 1,000 tokens without an end of turn, sampled ones may stop early.
LONG = {"model": "llama", "prompt": "a penny", "max_tokens": 500, "temperature": 0, "n": 4}


def test_a_full_queue_is_503_with_retry_after_and_frees_when_its_client_leaves(roomy):
    with httpx.stream("POST", roomy + "/v1/completions", json={**LONG, "stream": True}, timeout=60) as first:
        # Generating: its 4 sequences fill the queue. (Keep the iterator: dropping it closes the stream.)
        lines = first.iter_lines()
        assert next(lines).startswith("data: ")
        refused = httpx.post(roomy + "/v1/completions", json={"model": "llama", "prompt": "x", "max_tokens": 1}, timeout=60)
        assert refused.status_code == 503 and refused.headers["retry-after"] == "1"
        assert refused.json()["error"]["code"] == "queue_full"
    deadline = time.monotonic() + 30
    while (status := httpx.post(roomy + "/v1/completions", json={"model": "llama", "prompt": "x", "max_tokens": 1},
                                timeout=60).status_code) == 503 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert status == 200


def test_a_client_that_leaves_a_non_stream_request_stops_its_generation(roomy):
    tokens = metric(roomy, "slmforge_generated_tokens_total", model="llama")
    cancelled = metric(roomy, "slmforge_cancelled_sequences_total", model="llama")
    asked = metric(roomy, "slmforge_model_requests_total")
    body = json.dumps(LONG).encode()
    host, port = roomy.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                     b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
        deadline = time.monotonic() + 20
        while metric(roomy, "slmforge_model_requests_total") == asked and time.monotonic() < deadline:
            time.sleep(0.01)
    # Rows report their tokens as they leave the batch: wait until all 4 are cancelled or fully generated.
    deadline = time.monotonic() + 60
    while (metric(roomy, "slmforge_cancelled_sequences_total", model="llama") - cancelled < 4
           and metric(roomy, "slmforge_generated_tokens_total", model="llama") - tokens < 4 * 500
           and time.monotonic() < deadline):
        time.sleep(0.02)
    assert metric(roomy, "slmforge_cancelled_sequences_total", model="llama") - cancelled == 4
    assert metric(roomy, "slmforge_generated_tokens_total", model="llama") - tokens < 4 * 500 / 2


def test_rate_limit_counts_sequences_not_requests(tiny_qwen2):
    srv = start([ModelSpec("qwen", str(tiny_qwen2))], rate_limit=0.5, rate_burst=4)
    try:
        c = client(srv.url)
        c.completions.create(model="qwen", prompt=["a penny", "a pound"], n=2, max_tokens=1)  # 4 sequences: the burst
        with pytest.raises(openai.RateLimitError):
            c.completions.create(model="qwen", prompt="a penny", max_tokens=1)
    finally:
        srv.stop()


def test_json_nested_50000_deep_is_an_openai_json_400(roomy):
    raw = b'{"model": "llama", "prompt": ' + b"[" * 50_000 + b"]" * 50_000 + b"}"  # json.loads: RecursionError
    reply = httpx.post(roomy + "/v1/completions", content=raw, headers={"Content-Type": "application/json"}, timeout=60)
    assert reply.status_code == 400 and "nested too deeply" in reply.json()["error"]["message"]


@pytest.mark.parametrize("path, raw", [
    ("/v1/completions", b'{"model": "\\ud800", "prompt": "x"}'),  # lone surrogates: valid JSON, not UTF-8
    ("/v1/completions", b'{"model": "qwen", "prompt": "a \\udc00 b", "max_tokens": 1}'),
    ("/v1/chat/completions", b'{"model": "ab", "user": "\\ud800", "messages": [{"role": "user", "content": "hi"}]}'),
    ("/v1/chat/completions", b'{"model": "qwen", "messages": [{"role": "user", "\\ud800": 1, "content": "hi"}]}'),
], ids=["surrogate-model", "surrogate-prompt", "surrogate-user-ab", "surrogate-key"])
def test_hostile_bodies_get_an_openai_json_400_not_a_text_500(server, path, raw):
    reply = httpx.post(server + path, content=raw, timeout=60,
                       headers={"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"})
    assert reply.status_code == 400, reply.text[:200]
    assert reply.headers["content-type"] == "application/json"
    assert reply.json()["error"]["type"] == "invalid_request_error"


def test_four_1mb_prompts_are_refused_while_health_stays_responsive(tiny_qwen2):
    srv = start([ModelSpec("qwen", str(tiny_qwen2))], max_body_bytes=2_000_000)
    huge = "penny " * 170_000  # 1 MB: far more than 4,096 tokens
    bodies = [("/v1/completions", {"model": "qwen", "prompt": huge, "max_tokens": 1}),
              ("/v1/completions", {"model": "qwen", "prompt": ["hi", huge], "max_tokens": 1}),
              ("/v1/chat/completions", {"model": "qwen", "messages": [{"role": "user", "content": huge}]}),
              ("/v1/chat/completions", {"model": "qwen", "messages": [{"role": "system", "content": huge},
                                                                     {"role": "user", "content": "hi"}]})]
    statuses, waits, done = [], [], threading.Event()

    def ask(path: str, body: dict) -> None:
        reply = httpx.post(srv.url + path, json=body, timeout=60)
        statuses.append((reply.status_code, reply.json()["error"]["code"]))

    def poll_health() -> None:
        while not done.is_set():
            started = time.perf_counter()
            httpx.get(srv.url + "/health", timeout=60)
            waits.append(time.perf_counter() - started)

    try:
        poller = threading.Thread(target=poll_health)
        poller.start()
        askers = [threading.Thread(target=ask, args=job) for job in bodies]
        for t in askers:
            t.start()
        for t in askers:
            t.join(60)
        done.set()
        poller.join(60)
    finally:
        srv.stop()
    assert statuses == [(400, "context_length_exceeded")] * 4
    # Tokenizing them on the event loop stalled every route for seconds on this machine.
    assert waits and max(waits) < 1.0, f"/health waited {max(waits):.2f} s"


def test_too_many_or_too_long_stop_strings_are_refused(server):
    c = client(server)
    with pytest.raises(openai.UnprocessableEntityError, match="stop"):
        c.completions.create(model="qwen", prompt="x", max_tokens=1, stop=[f"s{i}" for i in range(17)])
    with pytest.raises(openai.UnprocessableEntityError, match="stop"):
        c.completions.create(model="qwen", prompt="x", max_tokens=1, stop="x" * 5_000)
    c.completions.create(model="qwen", prompt="x", max_tokens=1, stop=["y" * 200] * 16)


def test_metrics_and_openapi_need_a_key_unless_made_public(server, tiny_qwen2):
    for path in ("/metrics", "/openapi.json"):
        assert httpx.get(server + path).status_code == 401, path
        assert httpx.get(server + path, headers={"Authorization": f"Bearer {KEY}"}).status_code == 200, path
    assert httpx.get(server + "/health").status_code == 200  # load balancers probe without a key
    srv = start([ModelSpec("qwen", str(tiny_qwen2))], api_keys=[KEY], public_metrics=True)
    try:
        for path in ("/metrics", "/openapi.json"):
            assert httpx.get(srv.url + path).status_code == 200, path
        assert httpx.get(srv.url + "/v1/models").status_code == 401
    finally:
        srv.stop()


def test_wrong_key_guesses_from_one_address_get_429_after_the_limit(tiny_qwen2):
    srv = start([ModelSpec("qwen", str(tiny_qwen2))], api_keys=[KEY], key_failures_per_minute=3)
    try:
        for _ in range(3):
            with pytest.raises(openai.AuthenticationError):
                client(srv.url, key="sk-guess").models.list()
        with pytest.raises(openai.RateLimitError) as err:
            client(srv.url, key="sk-guess").models.list()
        assert int(err.value.response.headers["retry-after"]) >= 1
        # The right key from that address waits too: otherwise 401 vs 429 would tell a guesser when it is right.
        with pytest.raises(openai.RateLimitError):
            client(srv.url).models.list()
    finally:
        srv.stop()


def test_unknown_roles_are_400_and_developer_reads_as_system(server):
    c = client(server)
    for role in ("hacker", "tool", "function"):
        with pytest.raises(openai.BadRequestError, match=f"messages.1.role: '{role}' is not supported") as err:
            c.chat.completions.create(model="qwen", max_tokens=1, messages=[CHAT[0], {"role": role, "content": "x"}])
        assert err.value.body["param"] == "messages"
    as_developer = c.chat.completions.create(model="qwen", max_tokens=4, temperature=0,
                                             messages=[{"role": "developer", "content": "Be brief."}, *CHAT])
    as_system = c.chat.completions.create(model="qwen", max_tokens=4, temperature=0,
                                          messages=[{"role": "system", "content": "Be brief."}, *CHAT])
    assert as_developer.usage.prompt_tokens == as_system.usage.prompt_tokens
    assert as_developer.choices[0].message.content == as_system.choices[0].message.content


TOOL = {"type": "function", "function": {"name": "weather", "parameters": {"type": "object", "properties": {}}}}


@pytest.mark.parametrize("field, value", [
    ("tools", [TOOL]), ("tool_choice", "required"), ("functions", [TOOL["function"]]), ("function_call", "auto!"),
    ("logprobs", True), ("top_logprobs", 2), ("response_format", {"type": "json_object"}), ("logit_bias", {"5": 100}),
])
def test_an_unsupported_field_asking_for_its_feature_is_400_naming_it(server, field, value):
    reply = httpx.post(server + "/v1/chat/completions", timeout=60, headers={"Authorization": f"Bearer {KEY}"},
                       json={"model": "qwen", "messages": CHAT, "max_tokens": 1, field: value})
    assert reply.status_code == 400, reply.text
    error = reply.json()["error"]
    assert error["param"] == field and error["message"].startswith(f"{field} is not supported")


def test_unsupported_fields_with_their_off_value_are_harmless(server):
    reply = client(server).chat.completions.create(
        model="qwen", messages=CHAT, max_tokens=1, tools=[], tool_choice="none", logprobs=False,
        response_format={"type": "text"}, presence_penalty=0.5, frequency_penalty=0.5,
    )
    assert reply.choices[0].finish_reason in {"stop", "length"}
    with pytest.raises(openai.BadRequestError, match="echo is not supported"):
        client(server).completions.create(model="qwen", prompt="x", max_tokens=1, echo=True)


def test_openapi_documents_request_bodies_and_error_responses(server):
    spec = httpx.get(server + "/openapi.json", headers={"Authorization": f"Bearer {KEY}"}).json()
    schemas = spec["components"]["schemas"]
    for path, model, field in (("/v1/chat/completions", "ChatRequest", "messages"), ("/v1/completions", "CompletionRequest", "prompt")):
        operation = spec["paths"][path]["post"]
        body = operation["requestBody"]["content"]["application/json"]["schema"]
        assert body == {"$ref": f"#/components/schemas/{model}"}
        assert field in schemas[model]["required"]
        assert schemas[model]["properties"]["model"]["enum"] == ["qwen", "llama", "ab"]
        for status in ("400", "401", "404", "413", "422", "429", "503"):
            error = operation["responses"][status]["content"]["application/json"]["schema"]
            assert error == {"$ref": "#/components/schemas/ErrorBody"}, (path, status)
    assert schemas["ErrorBody"]["required"] == ["error"]


def test_a_request_naming_no_max_tokens_stays_within_the_cap(server):
    # The server's default (256) is above its cap (64): the default must not pass the cap, nor be refused by it.
    reply = client(server).chat.completions.create(model="qwen", messages=[{"role": "user", "content": "no cap"}],
                                                   temperature=0)
    assert reply.usage.completion_tokens <= 64


def test_a_half_sent_body_is_answered_408_within_the_body_timeout(tiny_qwen2):
    srv = start([ModelSpec("qwen", str(tiny_qwen2))], body_timeout_s=1.0)
    body = json.dumps({"model": "qwen", "prompt": "a penny saved", "max_tokens": 1}).encode()
    host, port = srv.url.removeprefix("http://").split(":")
    try:
        with socket.create_connection((host, int(port))) as sock:
            sock.settimeout(10)
            sock.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                         b"Content-Length: %d\r\n\r\n%s" % (len(body), body[: len(body) // 2]))
            started = time.monotonic()
            # The stalled upload holds no engine slot: a whole request is answered meanwhile.
            assert httpx.post(srv.url + "/v1/completions", content=body, timeout=30).status_code == 200
            reply = b""
            while not reply.endswith(b"}"):
                chunk = sock.recv(65536)  # socket.timeout here: the server is still waiting for the body
                if not chunk:
                    break
                reply += chunk
            waited = time.monotonic() - started
    finally:
        srv.stop()
    assert reply.startswith(b"HTTP/1.1 408"), reply[:200]
    assert b'"type":"invalid_request_error"' in reply and waited < 5

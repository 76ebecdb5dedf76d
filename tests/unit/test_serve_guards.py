"""Guards and small parts of the server: keys, token buckets, bind address, A/B split, cache."""

from __future__ import annotations

import time

import pytest

from slmforge.core.sections import ServeSection
from slmforge.runtime.serve.cache import ResponseCache, cache_key
from slmforge.runtime.serve.engine import GenerationResult, SamplingParams
from slmforge.runtime.serve.guards import RateLimiter, check_bind, matching_key, read_api_keys, retry_after_header, short_keys
from slmforge.runtime.serve.loading import parse_model_flag, served_name
from slmforge.runtime.serve.options import ServeError, ServeOptions, parse_split
from slmforge.runtime.serve.protocol import lone_surrogate


def test_only_a_listed_bearer_key_matches(tmp_path):
    keys_file = tmp_path / "keys.txt"
    keys_file.write_text("# team keys\nsk-one\n\nsk-two\n", encoding="utf-8")
    keys = read_api_keys(keys_file)
    assert keys == ["sk-one", "sk-two"]
    assert matching_key("Bearer sk-two", keys) == "sk-two"
    for header in (None, "", "sk-one", "Bearer sk-on", "Bearer sk-one2", "Basic sk-one"):
        assert matching_key(header, keys) is None


def test_a_keys_file_saved_with_a_utf8_bom_reads_its_first_key(tmp_path):
    keys_file = tmp_path / "keys.txt"
    keys_file.write_text("sk-first-key-0123456789\nsk-second\n", encoding="utf-8-sig")  # Notepad's "UTF-8 with BOM"
    assert read_api_keys(keys_file) == ["sk-first-key-0123456789", "sk-second"]


def test_the_bearer_scheme_is_case_insensitive():
    keys = ["sk-one"]
    for header in ("bearer sk-one", "BEARER sk-one", "Bearer   sk-one ", "bEaReR\tsk-one"):
        assert matching_key(header, keys) == "sk-one", header
    assert matching_key("Bearersk-one", keys) is None


def test_keys_shorter_than_16_characters_are_counted_for_the_start_warning():
    assert short_keys(["sk-one", "0123456789abcdef", "x" * 40]) == 1


def test_missing_or_empty_keys_file_is_one_clear_error(tmp_path):
    with pytest.raises(ServeError, match="file not found"):
        read_api_keys(tmp_path / "nope.txt")
    (tmp_path / "empty.txt").write_text("# nothing\n", encoding="utf-8")
    with pytest.raises(ServeError, match="no keys in the file"):
        read_api_keys(tmp_path / "empty.txt")


def test_token_bucket_allows_the_burst_then_says_how_long_to_wait():
    limiter = RateLimiter(rate=2.0, burst=3)
    assert [limiter.acquire("k") for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = limiter.acquire("k")
    assert 0.3 < wait <= 0.5
    assert limiter.acquire("other") == 0.0  # buckets are per client
    assert retry_after_header(wait) == "1"
    time.sleep(wait + 0.05)
    assert limiter.acquire("k") == 0.0


def test_a_request_pays_one_unit_per_sequence_and_never_more_than_the_burst():
    limiter = RateLimiter(rate=1.0, burst=4)
    assert limiter.acquire("k", 3) == 0.0
    assert 1.9 < limiter.acquire("k", 3) <= 2.0  # 1 unit left: 2 more to wait for, and nothing was taken
    assert limiter.acquire("k", 1) == 0.0
    assert limiter.acquire("big", 100) == 0.0  # a full bucket pays for any request once
    assert limiter.acquire("big", 1) > 0


def test_quiet_clients_are_forgotten_once_the_table_is_full(monkeypatch):
    monkeypatch.setattr(RateLimiter, "MAX_CLIENTS", 3)
    limiter = RateLimiter(rate=1000.0, burst=1)
    for client in ("a", "b", "c"):
        limiter.acquire(client)
    time.sleep(0.01)  # at 1,000 units/s every bucket is full again
    limiter.acquire("d")
    assert set(limiter._buckets) == {"d"}


def test_rate_limit_zero_means_off():
    limiter = RateLimiter(rate=0, burst=1)
    assert all(limiter.acquire("k") == 0 for _ in range(100))


def test_binding_beyond_loopback_needs_api_keys():
    for host in ("127.0.0.1", "::1", "localhost"):
        check_bind(host, [])
    with pytest.raises(ServeError, match="--host 0.0.0.0: binding beyond this machine needs --api-keys"):
        check_bind("0.0.0.0", [])
    check_bind("0.0.0.0", ["sk-one"])


def test_split_parses_weights_and_rejects_nonsense():
    assert parse_split("a=0.9,b=0.1") == {"a": 0.9, "b": 0.1}
    for bad in ("a=0.9", "a=x,b=1", "a:0.5,b:0.5", "a=0,b=0", "=1,b=1"):
        with pytest.raises(ServeError, match="--split"):
            parse_split(bad)


def test_model_flags_and_default_names():
    assert parse_model_flag("base=embedded:smollm2-135m").name == "base"
    with pytest.raises(ServeError, match="NAME=PATH"):
        parse_model_flag("runs/x")
    assert served_name("runs/folksy/") == "folksy"
    assert served_name("export/model-q8_0.gguf") == "model-q8_0"
    assert served_name("embedded:smollm2-135m") == "smollm2-135m"


def test_options_take_recipe_defaults_and_flags_win():
    opts = ServeOptions.from_section(ServeSection(port=9000, max_batch=4), max_batch=16, rate_limit=None)
    assert (opts.port, opts.max_batch, opts.rate_limit) == (9000, 16, 0.0)


def test_cache_keeps_only_deterministic_answers_and_evicts_the_oldest():
    cache = ResponseCache(size=2)
    answer = GenerationResult("hi", "stop", 3, 1)
    greedy = SamplingParams(8, temperature=0)
    assert cache_key("m", [1, 2], SamplingParams(8, temperature=0.7)) is None
    keys = [cache_key("m", [i], greedy) for i in range(3)]
    for key in keys:
        cache.put(key, answer)
    assert cache.get(keys[0]) is None and cache.get(keys[2]) == answer
    assert cache_key("m", [1], greedy) != cache_key("m", [1], SamplingParams(9, temperature=0))


def test_a_lone_surrogate_is_found_by_its_path_however_deep_the_body():
    body = {"model": "m", "messages": [{"role": "user", "content": "fine"}, {"role": "user", "content": "a\ud800"}]}
    assert lone_surrogate(body) == "messages.1.content"
    assert lone_surrogate({"\udc00": 1}) == "\\udc00"  # named printably, so the error message can be sent
    deep: list = ["\U0001f642 paired surrogates are fine"]
    for _ in range(20_000):
        deep = [deep]
    assert lone_surrogate({"prompt": deep}) is None


def test_a_dead_engine_ends_the_foreground_server_with_its_reason_as_one_error():
    """What `slmforge serve --engine vllm` does when vLLM dies under it: exit non-zero (2) with the reason, not serve 500s."""
    import threading

    from fastapi import FastAPI

    from slmforge.runtime.serve.server import Stopper, free_port, run_foreground

    stopper = Stopper()
    threading.Timer(1.0, stopper.stop, ["vLLM exited with code -9 while serving tiny"]).start()
    with pytest.raises(ServeError, match="vLLM exited with code -9 while serving tiny"):
        run_foreground(FastAPI(), ServeOptions(port=free_port()), stopper)

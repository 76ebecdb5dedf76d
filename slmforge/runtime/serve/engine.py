"""The batching engine: requests that arrive within a few milliseconds are generated as one batch.

One worker thread per model owns the model. It gathers queued requests for `batch_wait_ms`
(up to `max_batch`), left-pads them into one tensor and runs its own decoding loop, so that each
row keeps its own temperature, top_p, seed, stop strings and max_tokens. A row that finishes
(end of turn, stop string, its own max_tokens, or its client went away) is answered at once and
dropped from the KV cache, so the rest of the batch gets cheaper instead of waiting for it.
Requests that arrive while a batch runs join it between two decoding steps: they are prefilled
on their own and their KV cache is left-padded and concatenated to the running one. A join costs a forward pass of
its own, about one decoding step whether one newcomer is prefilled or eight, so newcomers join in groups: once a
quarter of the running rows' worth can join (are waiting, and have free slots), or after JOIN_PATIENCE steps
(vLLM instead runs newcomers' prompts inside the decoding step, over a paged cache, which padded batches cannot
do cheaply).
A prefill whose prompts begin the way an earlier one did (the chat template's system turn, an app's fixed
instructions) takes those tokens' keys and values from the prefix store (prefix.py) and runs only the rest.
The running batch's keys and values are written in place step by step, and the columns no row attends to any more
are dropped (kv.py), so a batch that lives as long as the traffic does stays as wide as its rows need.
Everything one request brings (its seed, its sampling, its callbacks) runs guarded per row: a
request that fails there is answered with its own error, and its batch goes on without it.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from typing import Any

import torch

from slmforge.runtime.generation import stop_ids
from slmforge.runtime.serve.kv import drop_unused_columns, growable, is_joinable
from slmforge.runtime.serve.prefix import MIN_TOKENS, PrefixStore, batch_cache

# The engine's public types live in requests.py and rows.py; they are imported from here as well.
from slmforge.runtime.serve.requests import GREEDY_BELOW, Engine, EngineObserver, GenerationResult, GenRequest, RequestError, SamplingParams, answer  # noqa: F401
from slmforge.runtime.serve.rows import _Row, longest_partial_stop, sample_token  # noqa: F401

log = logging.getLogger(__name__)

# Newcomers join a running batch once this fraction of its rows' worth (1/JOIN_GROUP) can (waiting, with free
# slots), or after JOIN_PATIENCE decoding steps of waiting, whichever comes first; a batch of under JOIN_GROUP rows
# takes them at once.
JOIN_GROUP = 4
JOIN_PATIENCE = 3


class BatchingEngine:
    """Transformers model + tokenizer behind a queue; `submit` never blocks on generation."""

    def __init__(
        self,
        name: str,
        model: Any,
        tokenizer: Any,
        max_batch: int = 32,
        batch_wait_ms: float = 5.0,
        observer: EngineObserver | None = None,
        prefix_cache_mb: float = 0,
    ):
        self.name = name
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.max_batch = max(1, max_batch)
        self.batch_wait_s = max(0.0, batch_wait_ms) / 1000
        self.observer = observer
        self.max_context = int(getattr(model.config, "max_position_embeddings", 0) or 2048)
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        self.eos_ids = stop_ids(model, tokenizer)  # the one stop rule batch generation uses too
        # A peft model holding several named adapters: each row of a batch runs with its own (peft's mixed batches).
        self.mixed_adapters = len(getattr(model, "peft_config", {}) or {}) > 1
        # Keys and values of prompt beginnings already run (0 MB: off).
        self.prefixes = PrefixStore(int(prefix_cache_mb * 2**20)) if prefix_cache_mb > 0 else None
        self._queue: queue.Queue[GenRequest | None] = queue.Queue()
        self._thread = threading.Thread(target=self._loop, name=f"engine-{name}", daemon=True)

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        if not self._thread.is_alive() and self._thread.ident is None:  # once, however many served names share it
            self._thread.start()

    def submit(self, request: GenRequest) -> None:
        self._queue.put(request)
        self._report_depth()

    def stop(self) -> None:
        """Finish everything already queued, then end the worker (graceful shutdown loses nothing)."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()

    def _report_depth(self) -> None:
        if self.observer is not None:
            self.observer.queue_depth(self.name, self._queue.qsize())

    # ------------------------------------------------------------------ worker
    def _take(self, limit: int, wait_s: float) -> list[GenRequest]:
        """Up to `limit` queued requests, waiting at most `wait_s` for them; notes the stop sentinel."""
        taken: list[GenRequest] = []
        deadline = time.monotonic() + wait_s
        while len(taken) < limit and not self._stopping:
            try:
                item = self._queue.get(timeout=max(0.0, deadline - time.monotonic())) if wait_s else self._queue.get_nowait()
            except queue.Empty:
                break
            if item is None:
                self._stopping = True
            else:
                taken.append(item)
        self._report_depth()
        return taken

    def _loop(self) -> None:
        self._stopping = False
        while not self._stopping:
            first = self._queue.get()
            if first is None:
                break
            batch = [first, *self._take(self.max_batch - 1, self.batch_wait_s)]
            self._batched_requests: list[GenRequest] = []
            try:
                self._run_batch(batch)
            except BaseException as exc:  # a failed batch must answer its requests, not hang them
                for request in {id(r): r for r in batch + self._batched_requests}.values():
                    answer(request, exc)

    def _prefill(self, requests: list[GenRequest]) -> tuple[list[_Row], Any, torch.Tensor, torch.Tensor, list[int]]:
        """Run the prompts of `requests` (left-padded) and sample each one's first token.

        Returns the rows still running, their cache, attention mask, last positions and next tokens.
        """
        rows = []
        for request in requests:
            if request.cancelled.is_set():
                answer(request, GenerationResult("", "stop", len(request.prompt_ids), 0))
                if self.observer is not None:
                    self.observer.sequence_cancelled(self._label(request))
                continue
            try:
                rows.append(_Row(request, self.eos_ids))
            except Exception as exc:  # this request's own state (its seed): it fails alone
                answer(request, exc)
        self._batched_requests.extend(r.request for r in rows)  # answered with the error if the batch fails
        if not rows:
            return [], None, torch.zeros(0), torch.zeros(0), []
        device = self.model.device
        start, layers = self._shared_prefix(rows)
        suffixes = [r.request.prompt_ids[start:] for r in rows]
        width = max(len(ids) for ids in suffixes)
        input_ids = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, ids in enumerate(suffixes):
            input_ids[i, width - len(ids):] = torch.tensor(ids, dtype=torch.long)
            mask[i, width - len(ids):] = 1
        input_ids, mask = input_ids.to(device), mask.to(device)
        # Left padding: positions count real tokens only, so a padded row sees the same
        # positions as it would alone.
        positions = (mask.cumsum(-1) - 1).clamp(min=0) + start
        cached = {}
        if start:  # the shared beginning's keys and values come first; the rows' padding sits between it and the rest
            mask = torch.cat([torch.ones((len(rows), start), dtype=mask.dtype, device=device), mask], dim=1)
            cached["cache"] = batch_cache(layers, len(rows), self.model.config)
        out = self.model(input_ids=input_ids, attention_mask=mask, position_ids=positions, use_cache=True, logits_to_keep=1,
                         **cached, **self._adapters_of(rows))
        return self._advance(rows, growable(out.cache), mask, positions[:, -1], out.logits[:, -1, :])

    def _shared_prefix(self, rows: list[_Row]) -> tuple[int, list[tuple[torch.Tensor, torch.Tensor]]]:
        """How many first tokens all of `rows`' prompts share whose keys and values are known (from the store, or
        run now and stored), and those keys and values; (0, []) when there are none worth reusing.

        A lone prompt with nothing stored runs its beginning alone and stores it (the next prompt may share it); a
        batch whose shared beginning goes on past the stored part runs the rest once, for all its rows. A lone prompt
        that goes on past a stored beginning is not stored again: it would only fill the store with its own text."""
        adapters = {r.request.adapter for r in rows}
        if self.prefixes is None or len(adapters) > 1:
            return 0, []
        adapter = adapters.pop()
        prompts = [tuple(r.request.prompt_ids) for r in rows]
        common = os.path.commonprefix(prompts)[: min(len(p) for p in prompts) - 1]  # each row keeps a token of its own
        if len(common) < MIN_TOKENS:
            return 0, []
        found, layers = self.prefixes.lookup(adapter, common)
        if found and (len(rows) == 1 or len(common) - found < MIN_TOKENS):
            saved = found * len(rows)
        else:
            layers = self._run_beginning(common, found, layers, adapter)
            if not layers:
                return 0, []
            found, saved = len(common), found + len(common) * (len(rows) - 1)
        if self.observer is not None and saved:
            self.observer.prefix_reused(self._label(rows[0].request), saved)
        return found, layers

    def _run_beginning(self, common: tuple[int, ...], start: int, layers: list[tuple[torch.Tensor, torch.Tensor]],
                       adapter: str | None) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Keys and values of `common` (its first `start` tokens' given), stored for later prompts; [] if this model
        cannot have them (the prefix cache is then off for it)."""
        device = self.model.device
        kwargs: dict[str, Any] = {"adapter_names": [adapter or "__base__"]} if self.mixed_adapters else {}
        if start:
            kwargs["cache"] = batch_cache(layers, 1, self.model.config)
        try:
            out = self.model(input_ids=torch.tensor([common[start:]], dtype=torch.long, device=device),
                             position_ids=torch.arange(start, len(common), device=device)[None], use_cache=True,
                             logits_to_keep=1, **kwargs)
        except Exception:  # an optimization must not fail requests: this model runs every prompt whole from now on
            log.exception("%s: running a prompt's beginning alone failed; the prefix cache is off for this model", self.name)
            self.prefixes = None
            return []
        if not self._can_join(out.cache):  # sliding-window or other layers whose keys we cannot slice and copy
            self.prefixes = None
            return []
        layers = [(layer.keys, layer.values) for layer in out.cache.layers]
        self.prefixes.add(adapter, list(common), layers)
        return layers

    def _advance(self, rows: list[_Row], cache: Any, mask: torch.Tensor, last_pos: torch.Tensor,
                 logits: torch.Tensor) -> tuple[list[_Row], Any, torch.Tensor, torch.Tensor, list[int]]:
        """Sample one token per row; answer and drop the rows that finished (their cache rows too)."""
        logits = logits.float()
        tokens = logits.argmax(dim=-1).tolist()  # greedy rows keep these
        keep = []
        for i, row in enumerate(rows):
            cancelled = False
            try:
                params = row.request.params
                if params.temperature > 0:
                    tokens[i] = sample_token(logits[i], params, row.generator)
                finished = row.advance(tokens[i], self.tokenizer)
                if not finished:
                    finished = cancelled = row.cancel_if_asked(self.tokenizer)
            except Exception as exc:  # this row's sampling or callbacks failed: it alone leaves the batch
                answer(row.request, exc)
                finished = True
            if not finished:
                keep.append(i)
            elif self.observer is not None:
                self.observer.tokens_generated(self._label(row.request), len(row.ids))
                if cancelled:
                    self.observer.sequence_cancelled(self._label(row.request))
        if len(keep) < len(rows) and keep:
            index = torch.tensor(keep, dtype=torch.long, device=mask.device)
            cache.batch_select_indices(index)
            mask, last_pos = mask[index], last_pos[index]
        return [rows[i] for i in keep], cache, mask, last_pos, [tokens[i] for i in keep]

    def _join(self, running: tuple) -> tuple:
        """The running batch with the waiting newcomers (as many as fit) prefilled and merged into it."""
        taken = self._take(self.max_batch - len(running[0]), 0.0)
        try:
            joined = self._prefill(taken)
        except Exception as exc:  # the newcomers' prefill failed: they fail, the running rows go on
            for request in taken:
                answer(request, exc)
            return running
        if not joined[0]:
            return running
        merged = _merge(running, joined)
        if self.observer is not None:
            self.observer.batch_joined(self.name, len(joined[0]), len(merged[0]))
        return merged

    def _worth_joining(self, running: int, waited: int) -> bool:
        """Whether the waiting newcomers should join now (see JOIN_GROUP): enough of them for one prefill to pay, or
        they have waited JOIN_PATIENCE steps."""
        can_join = min(self.max_batch - running, self._queue.qsize())
        return can_join >= max(1, running // JOIN_GROUP) or waited > JOIN_PATIENCE

    def _adapters_of(self, rows: list[_Row]) -> dict[str, Any]:
        """peft's per-row adapter names for this batch ("__base__": the base model alone)."""
        if not self.mixed_adapters:
            return {}
        return {"adapter_names": [r.request.adapter or "__base__" for r in rows]}

    def _label(self, request: GenRequest) -> str:
        return request.adapter or self.name

    def _can_join(self, cache: Any) -> bool:
        # Joining pads key/value tensors by hand, which only plain (non-sliding) dynamic layers allow.
        return all(is_joinable(layer) for layer in getattr(cache, "layers", [None]))

    @torch.inference_mode()
    def _run_batch(self, batch: list[GenRequest]) -> None:
        rows, cache, mask, last_pos, tokens = self._prefill(batch)
        if self.observer is not None and rows:
            self.observer.batch_started(self.name, len(rows))
        waited = 0  # decoding steps since newcomers began waiting
        while rows:
            # Requests that came in while this batch ran join it now instead of waiting for its end.
            if len(rows) < self.max_batch and not self._queue.empty() and self._can_join(cache):
                waited += 1
                if self._worth_joining(len(rows), waited):
                    waited = 0
                    rows, cache, mask, last_pos, tokens = self._join((rows, cache, mask, last_pos, tokens))
            device = mask.device
            mask = drop_unused_columns(cache, mask)
            mask = torch.cat([mask, torch.ones((len(rows), 1), dtype=mask.dtype, device=device)], dim=1)
            last_pos = last_pos + 1
            out = self.model(
                input_ids=torch.tensor(tokens, dtype=torch.long, device=device)[:, None],
                attention_mask=mask,
                position_ids=last_pos[:, None],
                cache=cache,
                use_cache=True,
                **self._adapters_of(rows),
            )
            rows, cache, mask, last_pos, tokens = self._advance(rows, out.cache, mask, last_pos, out.logits[:, -1, :])


class AdapterView:
    """One served name of a multi-adapter engine: its requests run with its own LoRA, in batches shared with
    the other names' requests (one base model in memory for all of them)."""

    def __init__(self, name: str, shared: BatchingEngine) -> None:
        self.name = name
        self.shared = shared
        self.tokenizer = shared.tokenizer
        self.max_context = shared.max_context

    def start(self) -> None:
        self.shared.start()

    def submit(self, request: GenRequest) -> None:
        request.adapter = self.name
        self.shared.submit(request)

    def stop(self) -> None:
        self.shared.stop()


def _merge(a: tuple, b: tuple) -> tuple:
    """Two running batches as one: the shorter cache and mask are left-padded (masked out) to match."""
    rows_a, cache_a, mask_a, pos_a, tok_a = a
    rows_b, cache_b, mask_b, pos_b, tok_b = b
    width = max(mask_a.shape[1], mask_b.shape[1])

    def pad(t: torch.Tensor, dim: int) -> torch.Tensor:
        missing = width - t.shape[dim]
        if missing == 0:
            return t
        shape = list(t.shape)
        shape[dim] = missing
        return torch.cat([torch.zeros(shape, dtype=t.dtype, device=t.device), t], dim=dim)

    for layer_a, layer_b in zip(cache_a.layers, cache_b.layers):
        layer_a.keys = torch.cat([pad(layer_a.keys, -2), pad(layer_b.keys, -2)], dim=0)
        layer_a.values = torch.cat([pad(layer_a.values, -2), pad(layer_b.values, -2)], dim=0)
    mask = torch.cat([pad(mask_a, 1), pad(mask_b, 1)], dim=0)
    return rows_a + rows_b, cache_a, mask, torch.cat([pos_a, pos_b]), tok_a + tok_b

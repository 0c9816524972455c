"""Chat requests through an OpenAI-compatible Batch API (`/v1/files` + `/v1/batches`): on OpenAI half the price
of one call each, answered within 24 hours.

`BatchChatClient.run(requests)` keeps `ChatClient.run`'s contract, so the generator-discriminator loop and the
strategies take either: one `ChatResult` per request, in request order, never raising for one item and never
dropping one. Cached requests are not sent. The rest become JSONL lines (custom_id = the cache key, so identical
requests go once), split into input files of at most 50,000 lines and 200 MB, uploaded
(`files.create(purpose="batch")`) and submitted (`batches.create`); each batch id is recorded in the request
cache before its first poll. The client polls every `poll_interval_s` until each batch has ended, downloads its
output and error files and caches every answer.

A line that failed for a transient reason (HTTP 408/409/429/5xx, a body that is not a chat completion, a failed,
expired or cancelled batch that did not answer it) goes into a follow-up batch, at most `max_retries` times; what
still fails, and what another 4xx rejected, becomes a ChatResult error with the reason. A batch still running
after `max_wait_s` is left running: its requests are errors naming it, and the next run of those requests (like
one killed while polling) polls that batch instead of submitting a new one. A recorded batch the endpoint no
longer has (HTTP 404 for it or its files) is forgotten and its requests are sent again.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import Counter
from dataclasses import dataclass, replace

import openai
from openai.types import Batch

from wavecoder_assets.llm.cache import RequestCache
from wavecoder_assets.llm.client import (
    ChatClient,
    ChatRequest,
    ChatResult,
    classify_error,
    redact_secrets,
)

BATCH_ENDPOINT = "/v1/chat/completions"
MAX_LINES_PER_BATCH = 50_000  # OpenAI's limits on one batch input file
MAX_BYTES_PER_BATCH = 200 * 1024 * 1024
_ENDED = ("completed", "failed", "expired", "cancelled")


@dataclass(frozen=True)
class _Failure:
    reason: str
    retry: bool  # worth a follow-up batch


class BatchChatClient(ChatClient):
    """Sends chat requests to one endpoint's Batch API. `max_retries` bounds the follow-up batches for failed lines
    (and the retries of each files/batches call); `timeout_s` is per files/batches call."""

    def __init__(self, base_url: str, model: str, *, api_key: str | None = None, cache: RequestCache | None = None,
                 cache_model: str | None = None, timeout_s: float = 300.0, max_retries: int = 3,
                 poll_interval_s: float = 30.0, max_wait_s: float = 25 * 3600.0,
                 max_lines_per_batch: int = MAX_LINES_PER_BATCH, max_bytes_per_batch: int = MAX_BYTES_PER_BATCH,
                 price_per_1k_prompt_tokens: float | None = None, price_per_1k_completion_tokens: float | None = None,
                 response_format_style: str | None = None):
        super().__init__(base_url, model, api_key=api_key, cache=cache, cache_model=cache_model, timeout_s=timeout_s,
                         max_retries=max_retries, price_per_1k_prompt_tokens=price_per_1k_prompt_tokens,
                         price_per_1k_completion_tokens=price_per_1k_completion_tokens,
                         response_format_style=response_format_style)
        self.poll_interval_s = poll_interval_s
        self.max_wait_s = max_wait_s
        self.max_lines_per_batch = max_lines_per_batch
        self.max_bytes_per_batch = max_bytes_per_batch

    def __repr__(self) -> str:  # no key in reprs, logs or error messages
        return f"BatchChatClient(base_url={self.base_url!r}, model={self.model!r})"

    async def _send_all(self, requests, pending, results, logger) -> None:
        """ChatClient.run's sending step: answer `pending` (cache key -> request indices) into `results`."""
        todo = {key: requests[indices[0]] for key, indices in pending.items()}
        async with openai.AsyncOpenAI(base_url=self.base_url, api_key=self._api_key or "unused",
                                      max_retries=self.max_retries, timeout=self.timeout_s) as client:
            answers = await _BatchRun(self, client, todo, logger).answer_all()
        for key, indices in pending.items():
            result = results[indices[0]] = answers[key]
            if result.error is not None:
                also = f" (and {len(indices) - 1} identical requests)" if len(indices) > 1 else ""
                logger.warning(f"{self.model}: request {requests[indices[0]].key}{also} failed: {result.error}")
            for i in indices[1:]:
                results[i] = replace(result, key=requests[i].key, cached=result.error is None, attempts=0,
                                     cost_usd=None if result.cost_usd is None else 0.0)

class _BatchRun:
    """One `run`'s batches: submit, poll, collect, resubmit what failed transiently."""

    def __init__(self, owner: BatchChatClient, client: openai.AsyncOpenAI, todo: dict[str, ChatRequest],
                 logger: logging.Logger):
        self.owner, self.client, self.todo, self.logger = owner, client, todo, logger
        self.deadline = time.monotonic() + owner.max_wait_s
        self.attempts: Counter[str] = Counter()  # cache key -> batch lines sent for it (resumed ones included)
        self.answers: dict[str, ChatResult] = {}
        self.failures: dict[str, _Failure] = {}  # cache key -> its latest failure

    async def answer_all(self) -> dict[str, ChatResult]:
        owner = self.owner
        in_flight = owner.cache.open_batches(owner.base_url, list(self.todo)) if owner.cache is not None else {}
        if in_flight:
            self.logger.info(f"{owner.model}: resuming {len(in_flight)} batch(es) an earlier run submitted: "
                             f"{', '.join(in_flight)}")
        resumed = [key for members in in_flight.values() for key in members if key in self.todo]
        self.attempts.update(resumed)  # a key in two resumed batches was sent twice
        to_send = [key for key in self.todo if key not in self.attempts]
        while to_send or in_flight:
            in_flight |= await self._submit(to_send)
            round_failed = await self._finish(in_flight)
            in_flight = {}
            to_send = [key for key in round_failed if key not in self.answers and self.failures[key].retry
                       and self.attempts[key] <= owner.max_retries and time.monotonic() < self.deadline]
        for key, request in self.todo.items():
            if key not in self.answers:
                n = self.attempts[key]
                error = redact_secrets(f"{self.failures[key].reason} (after {n} attempts)", owner._api_key)[:1000]
                self.answers[key] = ChatResult(key=request.key, text=None, error=error, model=owner.model, attempts=n)
        return self.answers

    async def _submit(self, keys: list[str]) -> dict[str, list[str]]:
        """Upload and submit `keys` in as few batches as the file limits allow: batch id -> its keys."""
        owner = self.owner
        chunks: list[list[tuple[str, bytes]]] = [[]]
        size = 0
        for key in keys:
            line = json.dumps({"custom_id": key, "method": "POST", "url": BATCH_ENDPOINT,
                               "body": owner.chat_body(self.todo[key])},
                              ensure_ascii=False, separators=(",", ":")).encode() + b"\n"
            if len(line) > owner.max_bytes_per_batch:
                self.failures[key] = _Failure(f"request of {len(line)} bytes exceeds the batch input file limit of "
                                              f"{owner.max_bytes_per_batch} bytes", retry=False)
                continue
            if len(chunks[-1]) == owner.max_lines_per_batch or size + len(line) > owner.max_bytes_per_batch:
                chunks.append([])
                size = 0
            chunks[-1].append((key, line))
            size += len(line)
        submitted: dict[str, list[str]] = {}
        for chunk in filter(None, chunks):
            chunk_keys = [key for key, _ in chunk]
            self.attempts.update(chunk_keys)
            content = b"".join(line for _, line in chunk)
            try:
                file = await self.client.files.create(file=("requests.jsonl", content, "application/jsonl"),
                                                      purpose="batch")
                batch = await self.client.batches.create(input_file_id=file.id, endpoint=BATCH_ENDPOINT,
                                                         completion_window="24h")
            except openai.OpenAIError as error:  # the client already retried what is worth retrying
                self._fail(chunk_keys, f"batch not submitted: {classify_error(error)[1]}", retry=False)
                continue
            if owner.cache is not None:  # before the first poll: a killed run resumes this batch
                owner.cache.add_batch(batch.id, owner.base_url, chunk_keys)
            self.logger.info(f"{owner.model}: batch {batch.id} submitted: {len(chunk)} requests, {len(content)} bytes")
            submitted[batch.id] = chunk_keys
        return submitted

    async def _finish(self, in_flight: dict[str, list[str]]) -> set[str]:
        """Poll `in_flight` until each batch ended (or the deadline), collect them; the keys that failed."""
        last_seen: dict[str, Batch] = {}
        unreachable: dict[str, str] = {}  # polling failed: the batch may still run, a rerun polls it again
        gone: dict[str, str] = {}  # the endpoint does not know the batch (deleted, another account)
        while True:
            for batch_id in in_flight:
                if batch_id in unreachable or batch_id in gone or (
                        batch_id in last_seen and last_seen[batch_id].status in _ENDED):
                    continue
                try:
                    batch = await self.client.batches.retrieve(batch_id)
                except openai.NotFoundError as error:
                    gone[batch_id] = f"batch {batch_id} is not at the endpoint ({classify_error(error)[1]})"
                    continue
                except openai.OpenAIError as error:
                    unreachable[batch_id] = f"could not be polled ({classify_error(error)[1]})"
                    continue
                if batch_id not in last_seen or last_seen[batch_id].status != batch.status:
                    counts = batch.request_counts
                    done = f" ({counts.completed} answered, {counts.failed} failed of {counts.total})" if counts else ""
                    self.logger.info(f"{self.owner.model}: batch {batch_id} {batch.status}{done}")
                last_seen[batch_id] = batch
            waiting = [b for b in in_flight
                       if b not in unreachable and b not in gone and last_seen[b].status not in _ENDED]
            if not waiting or time.monotonic() >= self.deadline:
                break
            await asyncio.sleep(max(0.0, min(self.owner.poll_interval_s, self.deadline - time.monotonic())))
        failed: set[str] = set()
        for batch_id, members in in_flight.items():
            batch = last_seen.get(batch_id)
            if batch_id in gone:
                failed |= self._forget(batch_id, members, gone[batch_id])
            elif batch is not None and batch.status in _ENDED:
                failed |= await self._collect(batch, members)
            else:
                why = unreachable.get(batch_id) or f"still {batch.status} after max_wait_s={self.owner.max_wait_s:g}"
                failed |= self._fail(members, f"batch {batch_id} {why}; it stays recorded and a rerun of these "
                                              "requests collects it", retry=False)
        return failed

    async def _collect(self, batch: Batch, members: list[str]) -> set[str]:
        """Cache every answer of an ended batch and close it; the keys it did not answer."""
        lines: dict[str, dict] = {}
        try:
            for file_id in filter(None, (batch.output_file_id, batch.error_file_id)):
                for raw in (await self.client.files.content(file_id)).text.splitlines():
                    try:
                        item = json.loads(raw)
                        lines[item["custom_id"]] = item
                    except (ValueError, TypeError, KeyError):  # a broken line: that request counts as unanswered
                        continue
        except openai.NotFoundError as error:  # e.g. its output file expired
            return self._forget(batch.id, members, f"results of batch {batch.id} are not at the endpoint "
                                                   f"({classify_error(error)[1]})")
        except openai.OpenAIError as error:
            return self._fail(members, f"results of batch {batch.id} not downloaded ({classify_error(error)[1]}); it "
                                       "stays recorded and a rerun of these requests collects it", retry=False)
        errors = "; ".join(e.message or e.code or "" for e in (batch.errors.data or [])[:3]) if batch.errors else ""
        unanswered = f"no answer: batch {batch.id} {batch.status}" + (f" ({errors})" if errors else "")
        failed: set[str] = set()
        answered = 0
        for key in members:
            outcome = self._outcome(key, lines.get(key), unanswered)
            if isinstance(outcome, ChatResult):
                self._store(key, outcome)
                answered += 1
            else:
                failed |= self._fail([key], outcome.reason, outcome.retry)
        if self.owner.cache is not None:
            self.owner.cache.close_batch(batch.id)
        self.logger.info(f"{self.owner.model}: batch {batch.id} collected: {answered} of {len(members)} answered")
        return failed

    def _outcome(self, key: str, item: dict | None, unanswered: str) -> ChatResult | _Failure:
        if item is None:
            return _Failure(unanswered, retry=True)
        response = item.get("response") or {}
        status, body = response.get("status_code"), response.get("body")
        if status == 200:
            request_key = self.todo[key].key if key in self.todo else key
            try:
                return self.owner._parse(request_key, body, self.attempts[key])
            except ValueError as error:
                return _Failure(f"malformed response: {error}", retry=True)
        if status is not None:
            message = (body.get("error") or {}).get("message") if isinstance(body, dict) else body
            return _Failure(f"HTTP {status}: {message}", retry=status in (408, 409, 429) or status >= 500)
        error = item.get("error") or {}
        return _Failure(f"{error.get('code')}: {error.get('message')}", retry=True)  # e.g. batch_expired

    def _store(self, key: str, result: ChatResult) -> None:
        """An answer goes to the cache whoever asked for it (a resumed batch may answer more than this run needs)."""
        if self.owner.cache is not None:
            self.owner.cache.put_result(key, self.owner.cache_model, result)
        if key in self.todo and key not in self.answers:
            self.answers[key] = result

    def _forget(self, batch_id: str, members: list[str], reason: str) -> set[str]:
        """Stop tracking a batch the endpoint no longer has; its requests are worth another batch."""
        if self.owner.cache is not None:
            self.owner.cache.close_batch(batch_id)
        return self._fail(members, reason, retry=True)

    def _fail(self, keys: list[str], reason: str, retry: bool) -> set[str]:
        failed = {key for key in keys if key in self.todo and key not in self.answers}
        for key in failed:
            self.failures[key] = _Failure(reason, retry)
        return failed

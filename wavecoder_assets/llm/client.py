"""Chat requests to any OpenAI-compatible endpoint.

`ChatClient.run(requests)` sends chat requests with a bounded number in flight, retries transient failures
(429, 5xx, timeouts, connection errors, malformed bodies) with exponential backoff and jitter, honours
Retry-After, and records what still fails as a `ChatResult` with `error` set: it never raises for one item
and never drops one. Every successful answer goes to a persistent cache as it arrives, so an unchanged rerun
makes no calls and a killed run resumes paying only for what was missing.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import random
import re
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Literal

import openai

from wavecoder_assets.llm.cache import RequestCache, cache_key

GENERATOR_MODEL = "qwen2.5-coder-0.5b-instruct"
JUDGE_MODEL = "qwen2.5-coder-1.5b-instruct"
Role = Literal["generator", "judge"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ChatRequest:
    key: str  # the caller's id for this item; results come back in request order with the same key
    messages: list[dict]
    temperature: float = 0.0
    max_tokens: int = 512
    seed: int | None = 0
    response_format: dict | None = None  # llama.cpp: {"type": "json_object", "schema": {...}}
    stop: list[str] | None = None
    top_logprobs: int | None = None  # ask for each answer token's most likely alternatives (a choice's probabilities)


@dataclass(frozen=True)
class ChatResult:
    key: str
    text: str | None  # None exactly when error is set
    error: str | None
    model: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached: bool = False  # answered from the cache (or by an identical request in the same run): no call paid
    attempts: int = 0  # endpoint calls made for this item in this run
    system_fingerprint: str | None = None
    finish_reason: str | None = None
    cost_usd: float | None = None  # paid in this run (0 when cached); None without a price table
    # With top_logprobs asked: per answer token, its text and its alternatives' log-probabilities ({token: logprob}).
    token_logprobs: tuple[tuple[str, dict[str, float]], ...] | None = None


@dataclass
class Usage:
    requests: int = 0
    cache_hits: int = 0
    calls: int = 0
    failures: int = 0
    prompt_tokens: int = 0  # paid in this run (cached answers excluded)
    completion_tokens: int = 0
    cost_usd: float | None = None  # None until a priced result comes in
    models: set[str] = field(default_factory=set)

    def add(self, results: list[ChatResult]) -> Usage:
        for r in results:
            self.requests += 1
            self.cache_hits += r.cached
            self.calls += r.attempts
            self.failures += r.error is not None
            if not r.cached:
                self.prompt_tokens += r.prompt_tokens
                self.completion_tokens += r.completion_tokens
            if r.cost_usd is not None:
                self.cost_usd = (self.cost_usd or 0.0) + r.cost_usd
            self.models.add(r.model)
        return self

    def as_metadata(self, prefix: str) -> dict:
        cost = {} if self.cost_usd is None else {f"{prefix}_cost_usd": round(self.cost_usd, 6)}
        return {
            f"{prefix}_model": ", ".join(sorted(self.models)),
            f"{prefix}_requests": self.requests,
            f"{prefix}_cache_hits": self.cache_hits,
            f"{prefix}_endpoint_calls": self.calls,
            f"{prefix}_failures": self.failures,
            f"{prefix}_prompt_tokens": self.prompt_tokens,
            f"{prefix}_completion_tokens": self.completion_tokens,
        } | cost


class _MalformedResponse(ValueError):
    pass


# Keys and tokens some endpoints echo back in error messages (even partially masked).
_SECRET_LIKE = re.compile(r"\b(sk|pk|rk|hf|key|token)[-_][A-Za-z0-9*_\-.]{6,}", re.IGNORECASE)


def redact_secrets(message: str, secret: str | None) -> str:
    if secret:
        message = message.replace(secret, "***")
    return _SECRET_LIKE.sub("***", message)


def _retry_after_s(error: Exception) -> float | None:
    response = getattr(error, "response", None)
    if response is None:
        return None
    headers = response.headers
    try:
        if "retry-after-ms" in headers:
            return float(headers["retry-after-ms"]) / 1000
        if "retry-after" in headers:
            value = headers["retry-after"]
            try:
                return float(value)
            except ValueError:
                return max(0.0, email.utils.parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None
    return None


def classify_error(error: Exception) -> tuple[bool, str]:
    """(worth retrying, short description) for an exception from one call."""
    if isinstance(error, openai.APITimeoutError):  # subclass of APIConnectionError: check first
        return True, "timeout"
    if isinstance(error, openai.APIConnectionError):
        return True, f"connection error: {error}"
    if isinstance(error, openai.APIStatusError):
        status = error.status_code
        message = error.message.removeprefix(f"Error code: {status} - ")
        return status in (408, 409, 429) or status >= 500, f"HTTP {status}: {message}"
    return True, f"malformed response: {error}"  # openai.APIResponseValidationError, bad JSON, no choices


def endpoint_response_format(response_format: dict | None, style: str | None) -> dict | None:
    """A schema-carrying response_format in the dialect the endpoint speaks: "json_object" (llama-cpp-python:
    {"type": "json_object", "schema": S}; its json_schema type answers HTTP 500) or "json_schema" (OpenAI, Azure,
    vLLM, Ollama: {"type": "json_schema", "json_schema": {"name": ..., "schema": S}}). None: as given."""
    if not response_format or style is None:
        return response_format
    named = response_format.get("json_schema") or {}
    schema = response_format.get("schema") or named.get("schema")
    if schema is None:  # plain JSON mode
        return response_format
    if style == "json_object":
        return {"type": "json_object", "schema": schema}
    return {"type": "json_schema", "json_schema": {"name": named.get("name", "output"), "schema": schema}}


def _run_coroutine(coro):
    """Run a coroutine to completion from sync code, also when the caller already runs an event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


class ChatClient:
    """Sends chat requests to one OpenAI-compatible endpoint. `cache_model` names the model in cache keys
    (the model's identity, independent of where it is served)."""

    def __init__(self, base_url: str, model: str, *, api_key: str | None = None, cache: RequestCache | None = None,
                 cache_model: str | None = None, max_in_flight: int = 4, timeout_s: float = 300.0,
                 max_retries: int = 5, backoff_base_s: float = 1.0, backoff_max_s: float = 60.0,
                 max_retry_after_s: float = 300.0, price_per_1k_prompt_tokens: float | None = None,
                 price_per_1k_completion_tokens: float | None = None, response_format_style: str | None = None,
                 on_connection_error: Callable[[], object] | None = None):
        self.base_url = base_url
        self.model = model
        self.cache_model = cache_model or model
        self._api_key = api_key
        self.cache = cache
        self.max_in_flight = max_in_flight
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.backoff_base_s = backoff_base_s
        self.backoff_max_s = backoff_max_s
        self.max_retry_after_s = max_retry_after_s
        priced = price_per_1k_prompt_tokens is not None or price_per_1k_completion_tokens is not None
        self.price = (price_per_1k_prompt_tokens or 0.0, price_per_1k_completion_tokens or 0.0) if priced else None
        if response_format_style not in (None, "json_object", "json_schema"):
            raise ValueError(f"response_format_style: json_object, json_schema or None, not {response_format_style!r}")
        self.response_format_style = response_format_style
        self.on_connection_error = on_connection_error  # e.g. restart the embedded server if it died
        self.usage = Usage()
        self._paused_until = 0.0  # monotonic time; a 429's Retry-After pauses every request, not just its own

    def __repr__(self) -> str:  # no key in reprs, logs or error messages
        return f"ChatClient(base_url={self.base_url!r}, model={self.model!r})"

    def cache_key(self, request: ChatRequest) -> str:
        return cache_key(self.cache_model, request.messages, request.temperature, request.max_tokens, request.seed,
                         request.response_format, request.stop, request.top_logprobs)

    def chat_body(self, request: ChatRequest) -> dict:
        """The body of one chat completion request (sent directly, or as a Batch API line)."""
        body = {"model": self.model, "messages": request.messages, "temperature": request.temperature,
                "max_tokens": request.max_tokens}
        response_format = endpoint_response_format(request.response_format, self.response_format_style)
        optional = {"seed": request.seed, "response_format": response_format, "stop": request.stop}
        if request.top_logprobs is not None:
            optional |= {"logprobs": True, "top_logprobs": request.top_logprobs}
        return body | {name: value for name, value in optional.items() if value is not None}

    def run(self, requests: list[ChatRequest], *, logger: logging.Logger | None = None) -> list[ChatResult]:
        """One result per request, in request order. Progress goes to `logger` (an asset's `context.log`: the
        run's log) as INFO, and each request that still fails after the retries as a WARNING naming its key and
        the reason (API keys and tokens redacted from it)."""
        logger = logger or log
        keys = [self.cache_key(r) for r in requests]
        stored = self.cache.get_many(keys) if self.cache is not None else {}
        results: list[ChatResult | None] = [None] * len(requests)
        pending: dict[str, list[int]] = {}  # cache key -> request indices; identical requests are sent once
        for i, key in enumerate(keys):
            if key in stored:
                results[i] = self._from_cache(requests[i].key, stored[key])
            else:
                pending.setdefault(key, []).append(i)
        if pending:
            logger.info(f"{self.model}: {len(requests) - sum(map(len, pending.values()))} of {len(requests)} "
                        f"requests cached, sending {len(pending)}")
            _run_coroutine(self._send_all(requests, pending, results, logger))
        self.usage.add(results)
        return results

    def _from_cache(self, request_key: str, row: dict) -> ChatResult:
        return ChatResult(key=request_key, text=row["text"], error=None, model=row["response_model"] or row["model"],
                          prompt_tokens=row["prompt_tokens"], completion_tokens=row["completion_tokens"],
                          cached=True, attempts=0, system_fingerprint=row["system_fingerprint"],
                          finish_reason=row["finish_reason"], cost_usd=None if self.price is None else 0.0,
                          token_logprobs=_stored_logprobs(row.get("token_logprobs")))

    async def _send_all(self, requests, pending, results, logger) -> None:
        in_flight = asyncio.Semaphore(self.max_in_flight)
        done = 0
        report_every = max(1, len(pending) // 10)
        async with openai.AsyncOpenAI(base_url=self.base_url, api_key=self._api_key or "unused", max_retries=0,
                                      timeout=self.timeout_s) as client:

            async def send(key: str, indices: list[int]) -> None:
                nonlocal done
                async with in_flight:  # backoff sleeps hold the slot too: 429s slow the whole run down
                    result = await self._send_one(client, requests[indices[0]])
                if result.error is None and self.cache is not None:
                    self.cache.put_result(key, self.cache_model, result)
                results[indices[0]] = result
                if result.error is not None:  # final (after the retries); already redacted, to the run's log
                    also = f" (and {len(indices) - 1} identical requests)" if len(indices) > 1 else ""
                    logger.warning(f"{self.model}: request {requests[indices[0]].key}{also} failed: {result.error}")
                for i in indices[1:]:
                    results[i] = replace(result, key=requests[i].key, cached=result.error is None, attempts=0,
                                         cost_usd=None if result.cost_usd is None else 0.0)
                done += 1
                if done % report_every == 0 or done == len(pending):
                    logger.info(f"{self.model}: {done}/{len(pending)} requests answered")

            await asyncio.gather(*(send(key, indices) for key, indices in pending.items()))

    async def _send_one(self, client: openai.AsyncOpenAI, request: ChatRequest) -> ChatResult:
        body = self.chat_body(request)
        for attempt in range(1, self.max_retries + 2):
            if (pause := self._paused_until - time.monotonic()) > 0:
                await asyncio.sleep(pause)
            try:
                # The client's raw `post` (its documented way to send a plain body): the typed
                # `chat.completions.create` spends more CPU validating than a busy run can spare.
                completion = await client.post("/chat/completions", body=body, cast_to=dict)
                return self._parse(request.key, completion, attempt)
            except (openai.OpenAIError, ValueError) as error:  # ValueError: body not JSON or not a completion
                retry, description = classify_error(error)
                if retry and self.on_connection_error and type(error) is openai.APIConnectionError:
                    try:
                        await asyncio.to_thread(self.on_connection_error)
                    except Exception as hook_error:  # e.g. the server cannot start again: record it
                        retry, description = False, f"{description}; then {hook_error}"
                if not retry or attempt > self.max_retries:
                    error = redact_secrets(f"{description} (after {attempt} attempts)", self._api_key)[:1000]
                    return ChatResult(key=request.key, text=None, model=self.model, attempts=attempt, error=error)
                delay = _retry_after_s(error)
                if delay is not None:
                    delay = min(delay, self.max_retry_after_s) * random.uniform(1.0, 1.1)
                    if isinstance(error, openai.RateLimitError):
                        self._paused_until = max(self._paused_until, time.monotonic() + delay)
                else:
                    delay = min(self.backoff_max_s, self.backoff_base_s * 2 ** (attempt - 1)) * random.uniform(0.5, 1)
                await asyncio.sleep(delay)

    def _parse(self, request_key: str, completion: dict, attempts: int) -> ChatResult:
        try:
            choice = completion["choices"][0]
            text = choice["message"]["content"]
            usage = completion.get("usage") or {}
            prompt_tokens = int(usage.get("prompt_tokens") or 0)
            completion_tokens = int(usage.get("completion_tokens") or 0)
        except (KeyError, IndexError, TypeError, AttributeError) as error:
            raise _MalformedResponse(f"not a chat completion ({error!r}): {str(completion)[:200]}") from None
        if not isinstance(text, str):
            raise _MalformedResponse(f"no text in the first choice: {str(choice)[:200]}")
        cost = None
        if self.price is not None:
            cost = (prompt_tokens * self.price[0] + completion_tokens * self.price[1]) / 1000
        return ChatResult(key=request_key, text=text, error=None, model=completion.get("model") or self.model,
                          prompt_tokens=prompt_tokens, completion_tokens=completion_tokens, cached=False,
                          attempts=attempts, system_fingerprint=completion.get("system_fingerprint"),
                          finish_reason=choice.get("finish_reason"), cost_usd=cost,
                          token_logprobs=_answer_logprobs(choice.get("logprobs")))


def _answer_logprobs(logprobs: dict | None) -> tuple | None:
    """A choice's `logprobs.content` (OpenAI's chat format: per token its text and top_logprobs) as
    ((token, {alternative: logprob}), ...); None when the endpoint sent none."""
    content = (logprobs or {}).get("content")
    if not content:
        return None
    try:
        return tuple((str(t["token"]), {str(a["token"]): float(a["logprob"]) for a in t.get("top_logprobs") or []})
                     for t in content)
    except (KeyError, TypeError, ValueError) as error:
        raise _MalformedResponse(f"logprobs not in the chat format ({error!r})") from None


def _stored_logprobs(stored: str | None) -> tuple | None:
    return None if stored is None else tuple((token, top) for token, top in json.loads(stored))


def summarize_usage(results: list[ChatResult], prefix: str = "llm") -> dict:
    """Asset metadata for one batch of results: requests, cache hits, calls, failures, tokens, cost."""
    return Usage().add(results).as_metadata(prefix)

"""The LLM resource: chat clients for the generator and the judge, against any OpenAI-compatible endpoint, or
the embedded llama.cpp server when none is set. The clients themselves live in `wavecoder_assets.llm`.

In an asset:

    def judged_instructions(context, llm: LLMResource, ...):
        results = llm.client("judge").run([ChatRequest(key=row_id, messages=[...], response_format=...)],
                                          logger=context.log)
        ...  # one ChatResult per request, same order: text, or error after the retries
        return dg.MaterializeResult(metadata=llm.usage_metadata(results))

With `use_batch_api` on a role's endpoint, `client(role)` is a `BatchChatClient` with the same `run` contract: the
requests go through the endpoint's Batch API (OpenAI: /v1/files + /v1/batches, half the price, answered within
24 hours), polled every `batch_poll_interval_s`; a run killed while a batch runs resumes that batch when rerun.
"""

from __future__ import annotations

import os
from contextlib import ExitStack

import dagster as dg
from pydantic import Field, PrivateAttr

from wavecoder_assets import slots
from wavecoder_assets.lakefiles import lake_root
from wavecoder_assets.llm import (
    GENERATOR_MODEL,
    JUDGE_MODEL,
    BatchChatClient,
    ChatClient,
    ChatResult,
    LocalLlamaServer,
    RequestCache,
    Role,
    summarize_usage,
)


class LLMEndpoint(dg.Config):
    """Where one role's requests go. No base_url: the embedded llama.cpp server with `local_model`."""

    base_url: str | None = Field(default=None, description="OpenAI-compatible base URL; empty = embedded server")
    model: str | None = Field(default=None, description="Model name at base_url (embedded: local_model)")
    api_key: str | None = Field(default=None, repr=False, description="Set with dagster.EnvVar, never a literal")
    local_model: str | None = Field(
        default=None, description=f"Embedded GGUF model when base_url is empty; empty = {GENERATOR_MODEL} for the "
        f"generator, {JUDGE_MODEL} for the judge (name the same model in both to run one server)")
    max_in_flight: int = Field(default=2, description="Requests in flight (llama.cpp answers one at a time)")
    timeout_s: float = Field(default=300.0, description="Per-request timeout in seconds")
    max_retries: int = 5
    response_format_style: str | None = Field(
        default=None, description="How this endpoint takes a JSON schema: json_object (llama-cpp-python server) or "
        "json_schema (OpenAI, Azure, vLLM, Ollama); empty = as the caller wrote it (embedded: always json_object)")
    price_per_1k_prompt_tokens: float | None = None
    price_per_1k_completion_tokens: float | None = None
    use_batch_api: bool = Field(
        default=False, description="Send requests through the endpoint's Batch API (/v1/files + /v1/batches): "
        "OpenAI answers within 24 h at half the price. Needs base_url (the embedded server has no batch API)")
    batch_poll_interval_s: float = Field(default=30.0, description="Seconds between polls of a running batch")
    batch_max_wait_s: float = Field(
        default=25 * 3600.0, description="Give up waiting after this long: the batch keeps running, its requests "
        "are recorded as errors, and a rerun collects it")
    batch_price_factor: float = Field(
        default=0.5, description="The batch price as a fraction of price_per_1k_* (OpenAI: half)")


class LLMResource(dg.ConfigurableResource):
    """Chat clients for the generator and the judge; starts (and stops) the embedded servers they need."""

    generator: LLMEndpoint = LLMEndpoint()
    judge: LLMEndpoint = LLMEndpoint()
    cache_path: str | None = Field(default=None, description="sqlite request cache; empty = no cache")
    n_ctx: int = Field(default=4096, description="Embedded server context length")
    # All cores: the job runs one step at a time (in-process executor) and the generator and judge take turns, so
    # one server computes at a time; its OpenMP threads wait passively (OMP_WAIT_POLICY), never spinning.
    # Measured on 2 cores: 1.56x the tokens/s of one thread.
    n_threads: int = Field(default=os.cpu_count() or 1, description="Embedded server CPU threads")

    _servers: dict = PrivateAttr(default_factory=dict)  # local model name -> LocalLlamaServer
    _clients: dict = PrivateAttr(default_factory=dict)  # role -> ChatClient
    _cache: RequestCache | None = PrivateAttr(default=None)
    _slot: ExitStack = PrivateAttr(default_factory=ExitStack)  # this run's hold on the llm pool (slots.py)

    def client(self, role: Role) -> ChatClient:
        if role not in self._clients:
            endpoint = {"generator": self.generator, "judge": self.judge}[role]
            if self._cache is None and self.cache_path:
                self._cache = RequestCache(self.cache_path)
            if endpoint.use_batch_api and not endpoint.base_url:
                raise ValueError(f"llm.{role}: use_batch_api needs a base_url with a Batch API; the embedded "
                                 "llama.cpp server has none")
            if endpoint.base_url:
                if not endpoint.model:
                    raise ValueError(f"llm.{role}: base_url is set, so model must be set too")
                base_url, model, style = endpoint.base_url, endpoint.model, endpoint.response_format_style
                restart = None
            else:  # one server per model, shared by both roles when they name the same one
                name = endpoint.local_model or {"generator": GENERATOR_MODEL, "judge": JUDGE_MODEL}[role]
                if name not in self._servers:
                    self._servers[name] = LocalLlamaServer(name, n_ctx=self.n_ctx, n_threads=self.n_threads)
                server = self._servers[name].start()
                base_url, model, style, restart = server.base_url, name, "json_object", server.start
            if endpoint.use_batch_api:
                batch_price = [None if price is None else price * endpoint.batch_price_factor for price in
                               (endpoint.price_per_1k_prompt_tokens, endpoint.price_per_1k_completion_tokens)]
                self._clients[role] = BatchChatClient(
                    base_url, model, api_key=endpoint.api_key, cache=self._cache, timeout_s=endpoint.timeout_s,
                    max_retries=endpoint.max_retries, poll_interval_s=endpoint.batch_poll_interval_s,
                    max_wait_s=endpoint.batch_max_wait_s, price_per_1k_prompt_tokens=batch_price[0],
                    price_per_1k_completion_tokens=batch_price[1], response_format_style=style,
                )
            else:
                self._clients[role] = ChatClient(
                    base_url, model, api_key=endpoint.api_key, cache=self._cache,
                    max_in_flight=endpoint.max_in_flight, timeout_s=endpoint.timeout_s,
                    max_retries=endpoint.max_retries, price_per_1k_prompt_tokens=endpoint.price_per_1k_prompt_tokens,
                    price_per_1k_completion_tokens=endpoint.price_per_1k_completion_tokens,
                    response_format_style=style, on_connection_error=restart,
                )
        return self._clients[role]

    def usage_metadata(self, results: list[ChatResult] | None = None) -> dict:
        """Token usage (and cost) of `results`, or of every request this resource sent so far, per role."""
        if results is not None:
            return summarize_usage(results)
        metadata = {}
        for role, client in self._clients.items():
            metadata.update(client.usage.as_metadata(f"llm_{role}"))
        return metadata

    def close(self) -> None:
        for server in self._servers.values():
            server.stop()
        if self._cache is not None:
            self._cache.close()
        self._servers.clear()
        self._clients.clear()
        self._cache = None

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        # Before any step claims the llm pool: free the slots of dead runs here, tie this run's to its process, and
        # wait asleep for a live holder (Dagster's own wait spins and ignores SIGTERM).
        self._slot = slots.hold_pool_slot(context)

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        self.close()
        self._slot.close()


def llm_resource_for(env: str, lake_dir: str) -> LLMResource:
    """local: the embedded models. production: hosted endpoints named by env vars, key from OPENAI_API_KEY
    (resolved by Dagster at run time, so it never enters run config, logs or the lake); a role's requests go
    through the Batch API when WAVECODER_<ROLE>_USE_BATCH_API is 1/true/yes."""
    cache_path = str(lake_root(lake_dir) / ".llm_cache.sqlite")
    if env == "local":
        return LLMResource(cache_path=cache_path)

    def hosted(role: str, default_model: str) -> LLMEndpoint:
        env_name = f"WAVECODER_{role.upper()}"
        return LLMEndpoint(
            base_url=os.environ.get(f"{env_name}_BASE_URL", "https://api.openai.com/v1"),
            model=os.environ.get(f"{env_name}_MODEL", default_model),
            api_key=dg.EnvVar(os.environ.get(f"{env_name}_API_KEY_ENV", "OPENAI_API_KEY")),
            max_in_flight=int(os.environ.get(f"{env_name}_MAX_IN_FLIGHT", "16")),
            response_format_style=os.environ.get(f"{env_name}_RESPONSE_FORMAT_STYLE", "json_schema"),
            timeout_s=120.0,
            use_batch_api=os.environ.get(f"{env_name}_USE_BATCH_API", "").lower() in ("1", "true", "yes"),
        )

    # The paper: GPT-3.5 generates, GPT-4 judges.
    return LLMResource(generator=hosted("generator", "gpt-4o-mini"), judge=hosted("judge", "gpt-4o"),
                       cache_path=cache_path)

"""Plain LLM access, no Dagster: request/result types, the async client with retries, the Batch API client with
the same contract (`batch.py`: upload JSONL, poll, download, resume by batch id), the request cache, the local
llama.cpp server and the embedded-model registry. `resources/llm.py` wraps them as a Dagster resource."""

from wavecoder_assets.llm.batch import BatchChatClient
from wavecoder_assets.llm.cache import RequestCache, cache_key
from wavecoder_assets.llm.client import (
    GENERATOR_MODEL,
    JUDGE_MODEL,
    ChatClient,
    ChatRequest,
    ChatResult,
    Role,
    Usage,
    summarize_usage,
)
from wavecoder_assets.llm.models import EMBEDDED_GGUF, embedded_gguf_path, model_cache_dir
from wavecoder_assets.llm.server import LocalLlamaServer, free_port

__all__ = ["EMBEDDED_GGUF", "GENERATOR_MODEL", "JUDGE_MODEL", "BatchChatClient", "ChatClient", "ChatRequest",
           "ChatResult", "LocalLlamaServer", "RequestCache", "Role", "Usage", "cache_key", "embedded_gguf_path",
           "free_port", "model_cache_dir", "summarize_usage"]

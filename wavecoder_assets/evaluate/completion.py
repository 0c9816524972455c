"""Completion backends. A request is (instruction, input, prefix, stop, language): the model answers the
Alpaca-style instruction prompt the fine-tuning used, its answer starting with `prefix` in a code block; a
backend returns the text after the prefix. In-process transformers and llama.cpp (a GGUF file behind its local
server) continue the prefix themselves; a chat endpoint (the LLM resource) writes a whole answer, from which the
part after the prefix is taken.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import httpx
import torch
from transformers import StoppingCriteria, StoppingCriteriaList

from wavecoder_assets.train import format_prompt, load_base_model  # the fine-tuning's prompt and loader


@dataclass(frozen=True)
class Request:
    key: str
    instruction: str
    input: str | None
    prefix: str
    stop: tuple[str, ...]
    language: str


FENCE_NAMES = {"python": "python", "js": "javascript", "go": "go", "java": "java", "cpp": "cpp", "rust": "rust"}


def response_start(request: Request) -> str:
    """Where the model's answer starts: the prefix, inside a Markdown code block as instruction-tuned models
    write code (the block's end stops the generation); a plain-text answer (no prefix) starts empty."""
    return f"```{FENCE_NAMES[request.language]}\n{request.prefix}" if request.prefix else ""


def completion_prompt(request: Request) -> str:
    return format_prompt(request.instruction, request.input) + response_start(request)


def stop_sequences(request: Request) -> tuple[str, ...]:
    """The benchmark's stop sequences; a code answer also ends with its code block."""
    return request.stop + ("\n```",) * bool(request.prefix)


class TransformersCompleter:
    """Generation with a transformers causal LM: a checkpoint folder, hub id, .gguf file or embedded GGUF name."""

    def __init__(self, model_name_or_dir: str, *, max_new_tokens: int = 512, batch_size: int = 4):
        loaded = load_base_model(model_name_or_dir)
        self.model, self.tokenizer = loaded.model.eval(), loaded.tokenizer
        self.tokenizer.padding_side = "left"  # generation continues every prompt at the same position
        self.max_new_tokens, self.batch_size = max_new_tokens, batch_size
        self.generated_tokens = 0  # new tokens up to each row's stop, all calls together (bench/eval.py's tokens/s)

    def complete(self, requests: list[Request], *, n: int = 1, temperature: float = 0.0) -> list[list[str]]:
        if n > 1 and temperature == 0:
            raise ValueError("n > 1 samples need temperature > 0 (greedy decoding gives n identical samples)")
        out = []
        for start in range(0, len(requests), self.batch_size):
            out += self._generate(requests[start : start + self.batch_size], n, temperature)
        return out

    @torch.inference_mode()
    def _generate(self, batch: list[Request], n: int, temperature: float) -> list[list[str]]:
        prompts = [completion_prompt(r) for r in batch]
        inputs = self.tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=True)
        stops = [stop_sequences(r) for r in batch for _ in range(n)]  # output rows: n per prompt, in prompt order
        # Sampling as in the Codex paper (top_p 0.95, no top_k); greedy ignores the model's own sampling defaults.
        sampling = (dict(do_sample=True, temperature=temperature, top_p=0.95, top_k=0) if temperature > 0
                    else dict(do_sample=False, temperature=None, top_p=None, top_k=None))
        stopping = StoppingCriteriaList([StopPerRow(self.tokenizer, inputs["input_ids"].shape[1], stops)])
        output = self.model.generate(**inputs, max_new_tokens=self.max_new_tokens, num_return_sequences=n,
                                     stopping_criteria=stopping, pad_token_id=self.tokenizer.pad_token_id, **sampling)
        new_tokens = output[:, inputs["input_ids"].shape[1]:]
        self.generated_tokens += int((new_tokens != self.tokenizer.pad_token_id).sum())  # a stopped row is padded
        texts = self.tokenizer.batch_decode(new_tokens, skip_special_tokens=True)
        return [texts[i * n : (i + 1) * n] for i in range(len(prompts))]


class StopPerRow(StoppingCriteria):
    """A row is done once its new text holds one of its own stop sequences, so one batch can mix benchmarks
    (transformers' stop_strings apply one list to the whole batch)."""

    def __init__(self, tokenizer, prompt_length: int, stops: list[tuple[str, ...]]):
        self.tokenizer, self.prompt_length, self.stops = tokenizer, prompt_length, stops

    def __call__(self, input_ids: torch.LongTensor, scores, **kwargs) -> torch.BoolTensor:
        texts = self.tokenizer.batch_decode(input_ids[:, self.prompt_length:], skip_special_tokens=True)
        return torch.tensor([any(s in text for s in stops) for text, stops in zip(texts, self.stops)], device=input_ids.device)


class LlamaCppCompleter:
    """Generation with llama.cpp: a GGUF file behind llama-cpp-python's OpenAI-compatible server on a loopback port
    (LocalLlamaServer), asked for plain completions of the same prompt as TransformersCompleter's. The server is
    started for each complete() call and stopped after it. It answers one request at a time and keeps the last
    prompt's KV cache, so the Alpaca header that every prompt starts with is computed once."""

    def __init__(self, gguf_path: str | Path, *, max_new_tokens: int = 512, n_threads: int = 1, n_ctx: int = 4096):
        from wavecoder_assets.llm.server import LocalLlamaServer

        self.server = LocalLlamaServer(Path(gguf_path).stem, gguf_path=Path(gguf_path), n_ctx=n_ctx, n_threads=n_threads)
        self.max_new_tokens = max_new_tokens
        self.generated_tokens = 0  # completion tokens the server reported, all calls together

    def complete(self, requests: list[Request], *, n: int = 1, temperature: float = 0.0) -> list[list[str]]:
        if n > 1 and temperature == 0:
            raise ValueError("n > 1 samples need temperature > 0 (greedy decoding gives n identical samples)")
        with self.server, httpx.Client(base_url=self.server.base_url, timeout=600) as http:
            return [[self._complete_one(http, r, temperature, seed=i) for i in range(n)] for r in requests]

    def _complete_one(self, http: httpx.Client, request: Request, temperature: float, seed: int) -> str:
        # Sampling as in the Codex paper (top_p 0.95, no top_k); llama.cpp's min_p and top_k defaults switched off.
        # Temperature 0 is greedy.
        body = {"model": self.server.model_name, "prompt": completion_prompt(request), "max_tokens": self.max_new_tokens,
                "stop": list(stop_sequences(request)), "temperature": temperature, "top_p": 0.95 if temperature else 1.0,
                "top_k": 0, "min_p": 0.0, "repeat_penalty": 1.0, "seed": seed}
        response = http.post("/completions", json=body)
        response.raise_for_status()
        answer = response.json()
        self.generated_tokens += answer["usage"]["completion_tokens"]
        return answer["choices"][0]["text"]


class ChatCompleter:
    """Generation through the LLM resource's ChatClient (any OpenAI-compatible endpoint)."""

    def __init__(self, client, *, max_new_tokens: int = 512):
        self.client, self.max_new_tokens = client, max_new_tokens

    def complete(self, requests: list[Request], *, n: int = 1, temperature: float = 0.0) -> list[list[str]]:
        from wavecoder_assets.llm import ChatRequest

        if n > 1 and temperature == 0:
            raise ValueError("n > 1 samples need temperature > 0 (greedy decoding gives n identical samples)")
        chats = [ChatRequest(f"{r.key}#{i}", [{"role": "user", "content": _chat_prompt(r)}], temperature=temperature,
                             max_tokens=self.max_new_tokens, seed=i)
                 for r in requests for i in range(n)]
        results = self.client.run(chats)
        # A failed call (already retried by the client) is an empty answer: it fails its test, it is not lost.
        answers = [_after_prefix(requests[j // n], res.text or "") for j, res in enumerate(results)]
        return [answers[i * n : (i + 1) * n] for i in range(len(requests))]


def _chat_prompt(request: Request) -> str:
    prompt = request.instruction + (f"\n\n{request.input}" if request.input else "")
    if request.prefix:
        prompt += f"\n\nComplete the code below. Answer with the whole code in one code block.\n```\n{request.prefix}\n```"
    return prompt


def _after_prefix(request: Request, reply: str) -> str:
    """The answer's text after the prefix: after the whole prefix if the reply repeats it, else after the
    prefix's last line that the reply repeats (e.g. the function signature); else the whole code block."""
    if not request.prefix:
        return reply.strip()
    blocks = re.findall(r"```[^\n]*\n(.*?)```", reply, re.DOTALL)
    code = blocks[0] if blocks else reply
    if request.prefix.strip() in code:
        return code.split(request.prefix.strip(), 1)[1]
    for line in reversed([line.strip() for line in request.prefix.splitlines() if len(line.strip()) > 3]):
        if line in code:
            return code.split(line, 1)[1]
    return "\n" + code

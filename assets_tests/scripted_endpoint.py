"""A scripted OpenAI-compatible chat endpoint on loopback: a real HTTP server, talked to by the real ChatClient."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from wavecoder_assets.llm import ChatClient


class ScriptedEndpoint:
    """An OpenAI-compatible chat endpoint on loopback whose answer is `answer(request body)`, for the real ChatClient.
    An answer may also be (text, {token: {alternative: logprob}}): the tokens of the text that get log-probabilities
    (the others get none) when the request asks for them, as `choices[0].logprobs.content` in OpenAI's format."""

    def __init__(self, answer: Callable[[dict], str | tuple[str, dict[str, dict[str, float]]]]):
        self.bodies: list[dict] = []
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["content-length"])))
                endpoint.bodies.append(body)
                text, alternatives = answer(body), {}
                if isinstance(text, tuple):
                    text, alternatives = text
                choice = {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}
                if body.get("logprobs"):
                    tokens = re.findall(r"\d+|\w+|\s+|[^\w\s]", text)  # a tokenizer's digits stand alone, too
                    choice["logprobs"] = {"content": [
                        {"token": t, "logprob": alternatives.get(t, {}).get(t, 0.0), "bytes": None,
                         "top_logprobs": [{"token": a, "logprob": lp, "bytes": None}
                                          for a, lp in alternatives.get(t, {t: 0.0}).items()]} for t in tokens]}
                reply = json.dumps({"id": "c1", "object": "chat.completion", "created": 0, "model": body["model"],
                                    "choices": [choice],
                                    "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20}})
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.end_headers()
                self.wfile.write(reply.encode())

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.client = ChatClient(f"http://127.0.0.1:{self.server.server_port}/v1", "scripted", max_retries=0)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.server.shutdown()

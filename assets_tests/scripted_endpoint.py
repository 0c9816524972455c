"""A scripted OpenAI-compatible chat endpoint on loopback: a real HTTP server, talked to by the real ChatClient."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from wavecoder_assets.llm import ChatClient


class ScriptedEndpoint:
    """An OpenAI-compatible chat endpoint on loopback whose answer is `answer(request body)`, for the real ChatClient."""

    def __init__(self, answer: Callable[[dict], str]):
        self.bodies: list[dict] = []
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["content-length"])))
                endpoint.bodies.append(body)
                reply = json.dumps({"id": "c1", "object": "chat.completion", "created": 0, "model": body["model"],
                                    "choices": [{"index": 0, "finish_reason": "stop", "message": {
                                        "role": "assistant", "content": answer(body)}}],
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

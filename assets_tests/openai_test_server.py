"""A local OpenAI-compatible chat server for tests and bench/llm.py, with scripted faults.

It speaks the real /v1/chat/completions protocol and answers "ECHO <last user message>" (or a JSON object
when response_format asks for one). A message containing `FAULTS=429@0.3,500,timeout,malformed` gets those
faults on its 1st, 2nd, ... attempt (counted per distinct message list) and a normal answer after them:
  429[@s]   HTTP 429 with Retry-After: s (default 1)      500 / 503   HTTP error
  timeout   sleep `hang_s` before answering                malformed   HTTP 200 with a body that is not JSON
  nochoices HTTP 200 JSON without choices                  401         auth error quoting the caller's key
GET /stats returns the calls received: total, and per message list the attempt times and faults served.

Run alone: python -m assets_tests.openai_test_server --port 8123 --latency 0.2
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import re
import threading
import time

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

_FAULTS = re.compile(r"FAULTS=([\w@.,]+)")


def create_app(latency_s: float = 0.0, hang_s: float = 30.0) -> Starlette:
    calls: dict[str, list[dict]] = {}  # message-list hash -> attempts
    total = {"calls": 0}

    async def chat_completions(request: Request) -> Response:
        body = await request.json()
        messages = body["messages"]
        digest = hashlib.sha256(json.dumps(messages, sort_keys=True).encode()).hexdigest()[:16]
        attempts = calls.setdefault(digest, [])
        text_in = " ".join(m["content"] for m in messages if isinstance(m.get("content"), str))
        found = _FAULTS.search(text_in)
        plan = found.group(1).split(",") if found else []
        fault = plan[len(attempts)] if len(attempts) < len(plan) else "ok"
        attempts.append({"t": time.time(), "fault": fault, "body": body})
        total["calls"] += 1
        if latency_s:
            await asyncio.sleep(latency_s)
        if fault.startswith("429"):
            retry_after = fault.partition("@")[2] or "1"
            return JSONResponse({"error": {"message": "Rate limit reached", "type": "requests"}}, status_code=429,
                                headers={"Retry-After": retry_after})
        if fault in ("500", "503"):
            return JSONResponse({"error": {"message": "The server had an error"}}, status_code=int(fault))
        if fault == "401":
            key = request.headers.get("authorization", "").removeprefix("Bearer ")
            return JSONResponse({"error": {"message": f"Incorrect API key provided: {key}"}}, status_code=401)
        if fault == "timeout":
            await asyncio.sleep(hang_s)
        if fault == "malformed":
            return Response('{"id": "chatcmpl-1", "choices": [', media_type="application/json")
        if fault == "nochoices":
            return JSONResponse({"id": "chatcmpl-1", "object": "chat.completion", "model": body["model"]})
        last_user = next(m["content"] for m in reversed(messages) if m["role"] == "user")
        response_format = body.get("response_format") or {}
        wants_json = response_format.get("type") in ("json_object", "json_schema")
        text = json.dumps({"echo": last_user}) if wants_json else f"ECHO {last_user}"
        return JSONResponse({
            "id": f"chatcmpl-{digest}", "object": "chat.completion", "created": int(time.time()),
            "model": body["model"], "system_fingerprint": "fp_test",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": len(text_in.split()), "completion_tokens": len(text.split()),
                      "total_tokens": len(text_in.split()) + len(text.split())},
        })

    async def stats(request: Request) -> Response:
        return JSONResponse({"calls": total["calls"], "by_messages": calls})

    return Starlette(routes=[Route("/v1/chat/completions", chat_completions, methods=["POST"]),
                             Route("/stats", stats)])


class ThreadedServer:
    """The app in a background thread of this process, on a free loopback port."""

    def __init__(self, latency_s: float = 0.0, hang_s: float = 30.0):
        from wavecoder_assets.llm.server import free_port

        self.port = free_port()
        config = uvicorn.Config(create_app(latency_s, hang_s), host="127.0.0.1", port=self.port, log_level="warning",
                                access_log=False, timeout_graceful_shutdown=1)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def stats(self) -> dict:
        import httpx

        return httpx.get(f"http://127.0.0.1:{self.port}/stats", timeout=10).json()

    def __enter__(self) -> ThreadedServer:
        self._thread.start()
        while not self._server.started:
            time.sleep(0.01)
        return self

    def __exit__(self, *exc) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--latency", type=float, default=0.0)
    args = parser.parse_args()
    uvicorn.run(create_app(args.latency), host="127.0.0.1", port=args.port, log_level="warning", access_log=False)

"""A local OpenAI-compatible server for the tests and bench/ (llm.py, soak.py), with scripted faults.

It speaks the real /v1/chat/completions protocol and answers "ECHO <last user message>" (or a JSON object
when response_format asks for one). A message containing `FAULTS=429@0.3,500,timeout,malformed` gets those
faults on its 1st, 2nd, ... attempt (counted per distinct message list, over direct calls and batch lines alike)
and a normal answer after them:
  429[@s]   HTTP 429 with Retry-After: s (default 1)      500 / 503   HTTP error
  timeout   sleep `hang_s` before answering                malformed   HTTP 200 with a body that is not JSON
  nochoices HTTP 200 JSON without choices                  401         auth error quoting the caller's key
  failbatch (batch lines only) the whole batch fails validation, as a batch with a bad line does

It also speaks the Batch API: POST /v1/files (multipart upload), GET /v1/files/{id}/content, POST /v1/batches,
GET /v1/batches/{id}, POST /v1/batches/{id}/cancel. A batch is "validating" when created, "in_progress" until
`batch_latency_s` after its creation (`app.state.batch_latency_s`, changeable while the server runs), then the
next retrieve answers every line with the chat logic above and completes it: successes (and 200s that are not
JSON) in its output file, other statuses in its error file, both in the real line format.

GET /stats returns the calls received: `calls` (direct chat calls), `batch_lines`, per message list the attempt
times, faults served and the channel (`via`: http or batch), per Batch API method (`files.create`,
`batches.retrieve`, ...) its call count, and per batch its status and the custom_ids of its input file.

Run alone: python -m wavecoder_assets.testing.openai_server --port 8123 --latency 0.2
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import itertools
import json
import re
import threading
import time
from collections import Counter

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

_FAULTS = re.compile(r"FAULTS=([\w@.,]+)")
_TERMINAL = ("failed", "completed", "expired", "cancelled")


def create_app(latency_s: float = 0.0, hang_s: float = 30.0, batch_latency_s: float = 0.0) -> Starlette:
    calls: dict[str, list[dict]] = {}  # message-list hash -> attempts
    total = {"calls": 0, "batch_lines": 0}
    endpoint_calls: Counter[str] = Counter()  # Batch API method -> calls
    files: dict[str, dict] = {}  # file id -> {"object": FileObject fields, "content": bytes}
    batches: dict[str, dict] = {}  # batch id -> Batch fields
    batch_inputs: dict[str, dict] = {}  # batch id -> created (s), api_key (its lines run with it), custom_ids
    ids = itertools.count(1)

    def planned_fault(messages: list[dict]) -> tuple[str, list[dict], str, str]:
        """The fault this message list gets on its next attempt, its attempt list, digest and text."""
        digest = hashlib.sha256(json.dumps(messages, sort_keys=True).encode()).hexdigest()[:16]
        attempts = calls.setdefault(digest, [])
        text_in = " ".join(m["content"] for m in messages if isinstance(m.get("content"), str))
        found = _FAULTS.search(text_in)
        plan = found.group(1).split(",") if found else []
        return (plan[len(attempts)] if len(attempts) < len(plan) else "ok"), attempts, digest, text_in

    async def answer(body: dict, api_key: str, via: str) -> tuple[int, dict | str, dict]:
        """(status, JSON body or raw text, headers) of one chat completion."""
        messages = body["messages"]
        fault, attempts, digest, text_in = planned_fault(messages)
        attempts.append({"t": time.time(), "fault": fault, "body": body, "via": via})
        total["calls" if via == "http" else "batch_lines"] += 1
        if latency_s:
            await asyncio.sleep(latency_s)
        if fault.startswith("429"):
            retry_after = fault.partition("@")[2] or "1"
            return 429, {"error": {"message": "Rate limit reached", "type": "requests"}}, {"Retry-After": retry_after}
        if fault in ("500", "503"):
            return int(fault), {"error": {"message": "The server had an error"}}, {}
        if fault == "401":
            return 401, {"error": {"message": f"Incorrect API key provided: {api_key}"}}, {}
        if fault == "timeout":
            await asyncio.sleep(hang_s)
        if fault == "malformed":
            return 200, '{"id": "chatcmpl-1", "choices": [', {}
        if fault == "nochoices":
            return 200, {"id": "chatcmpl-1", "object": "chat.completion", "model": body["model"]}, {}
        last_user = next(m["content"] for m in reversed(messages) if m["role"] == "user")
        response_format = body.get("response_format") or {}
        wants_json = response_format.get("type") in ("json_object", "json_schema")
        text = json.dumps({"echo": last_user}) if wants_json else f"ECHO {last_user}"
        return 200, {
            "id": f"chatcmpl-{digest}", "object": "chat.completion", "created": int(time.time()),
            "model": body["model"], "system_fingerprint": "fp_test",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": len(text_in.split()), "completion_tokens": len(text.split()),
                      "total_tokens": len(text_in.split()) + len(text.split())},
        }, {}

    def api_key_of(request: Request) -> str:
        return request.headers.get("authorization", "").removeprefix("Bearer ")

    def not_found(kind: str, object_id: str) -> Response:
        return JSONResponse({"error": {"message": f"No such {kind}: {object_id}", "type": "invalid_request_error"}},
                            status_code=404)

    async def chat_completions(request: Request) -> Response:
        status, payload, headers = await answer(await request.json(), api_key_of(request), "http")
        if isinstance(payload, str):
            return Response(payload, status_code=status, media_type="application/json")
        return JSONResponse(payload, status_code=status, headers=headers)

    def store_file(content: bytes, filename: str, purpose: str) -> dict:
        file = {"id": f"file-{next(ids)}", "object": "file", "bytes": len(content), "created_at": int(time.time()),
                "filename": filename, "purpose": purpose, "status": "processed"}
        files[file["id"]] = {"object": file, "content": content}
        return file

    async def files_create(request: Request) -> Response:
        endpoint_calls["files.create"] += 1
        async with request.form() as form:
            upload, purpose = form.get("file"), form.get("purpose")
            if upload is None or isinstance(upload, str) or purpose is None:
                return JSONResponse({"error": {"message": "file and purpose are required"}}, status_code=400)
            return JSONResponse(store_file(await upload.read(), upload.filename or "upload", purpose))

    async def files_content(request: Request) -> Response:
        endpoint_calls["files.content"] += 1
        file = files.get(request.path_params["file_id"])
        if file is None:
            return not_found("File", request.path_params["file_id"])
        return Response(file["content"], media_type="application/octet-stream")

    async def batches_create(request: Request) -> Response:
        endpoint_calls["batches.create"] += 1
        body = await request.json()
        if body.get("input_file_id") not in files:
            return not_found("File", str(body.get("input_file_id")))
        batch = {"id": f"batch_{next(ids)}", "object": "batch", "endpoint": body["endpoint"], "errors": None,
                 "input_file_id": body["input_file_id"], "completion_window": body["completion_window"],
                 "status": "validating", "output_file_id": None, "error_file_id": None,
                 "created_at": int(time.time()), "metadata": body.get("metadata"),
                 "request_counts": {"total": 0, "completed": 0, "failed": 0}}
        batches[batch["id"]] = batch
        batch_inputs[batch["id"]] = {"created": time.time(), "api_key": api_key_of(request),
                                     "custom_ids": custom_ids(files[body["input_file_id"]]["content"])}
        return JSONResponse(batch)

    def custom_ids(content: bytes) -> list:
        found = []
        for line in content.decode(errors="replace").splitlines():
            try:
                found.append(json.loads(line).get("custom_id"))
            except (ValueError, AttributeError):  # reported when the batch is validated
                continue
        return found

    def validation_errors(batch: dict, lines: list[str]) -> list[dict]:
        errors, seen = [], set()
        for number, line in enumerate(lines, 1):
            try:
                item = json.loads(line)
                problem = None
                if item.get("custom_id") in seen:
                    problem = f"duplicate custom_id {item.get('custom_id')!r}"
                elif item.get("method") != "POST" or item.get("url") != batch["endpoint"]:
                    problem = f"method and url must be POST {batch['endpoint']}"
                elif not isinstance(item.get("body"), dict) or not {"model", "messages"} <= item["body"].keys():
                    problem = "body must be an object with a model and messages"
                else:
                    fault, attempts, _, _ = planned_fault(item["body"]["messages"])
                    if fault == "failbatch":
                        attempts.append({"t": time.time(), "fault": fault, "body": item["body"], "via": "batch"})
                        problem = "scripted failbatch fault"
                seen.add(item.get("custom_id"))
            except (ValueError, AttributeError):
                problem = "not a JSON object"
            if problem:
                errors.append({"code": "invalid_request", "message": problem, "param": None, "line": number})
        return errors

    async def run_batch(batch: dict) -> None:
        lines = [line for line in files[batch["input_file_id"]]["content"].decode().splitlines() if line.strip()]
        now = int(time.time())
        if errors := validation_errors(batch, lines):
            batch.update(status="failed", failed_at=now, errors={"object": "list", "data": errors})
            return
        outputs, failures = [], []
        for line in map(json.loads, lines):
            status, payload, _ = await answer(line["body"], batch_inputs[batch["id"]]["api_key"], "batch")
            n = next(ids)
            (outputs if status == 200 else failures).append(json.dumps({
                "id": f"batch_req_{n}", "custom_id": line["custom_id"], "error": None,
                "response": {"status_code": status, "request_id": f"req_{n}", "body": payload}}))
        for name, found in (("output", outputs), ("error", failures)):
            if found:
                content = ("\n".join(found) + "\n").encode()
                file = store_file(content, f"{batch['id']}_{name}.jsonl", "batch_output")
                batch[f"{name}_file_id"] = file["id"]
        batch.update(status="completed", in_progress_at=batch.get("in_progress_at") or now, finalizing_at=now,
                     completed_at=now, request_counts={"total": len(lines), "completed": len(outputs),
                                                       "failed": len(failures)})

    async def batches_retrieve(request: Request) -> Response:
        endpoint_calls["batches.retrieve"] += 1
        batch = batches.get(request.path_params["batch_id"])
        if batch is None:
            return not_found("Batch", request.path_params["batch_id"])
        if batch["status"] == "cancelling":
            batch.update(status="cancelled", cancelled_at=int(time.time()))
        elif batch["status"] not in _TERMINAL:
            inputs = batch_inputs[batch["id"]]
            if time.time() - inputs["created"] >= request.app.state.batch_latency_s:
                await run_batch(batch)
            else:
                batch.update(status="in_progress", in_progress_at=batch.get("in_progress_at") or int(time.time()),
                             request_counts={"total": len(inputs["custom_ids"]), "completed": 0, "failed": 0})
        return JSONResponse(batch)

    async def batches_cancel(request: Request) -> Response:
        endpoint_calls["batches.cancel"] += 1
        batch = batches.get(request.path_params["batch_id"])
        if batch is None:
            return not_found("Batch", request.path_params["batch_id"])
        if batch["status"] in _TERMINAL:
            return JSONResponse({"error": {"message": f"Cannot cancel a batch that is {batch['status']}.",
                                           "type": "invalid_request_error"}}, status_code=409)
        batch.update(status="cancelling", cancelling_at=int(time.time()))
        return JSONResponse(batch)

    async def stats(request: Request) -> Response:
        return JSONResponse({**total, "by_messages": calls, "endpoint_calls": dict(endpoint_calls),
                             "batches": {batch_id: {"status": batch["status"],
                                                    "custom_ids": batch_inputs[batch_id]["custom_ids"]}
                                         for batch_id, batch in batches.items()}})

    app = Starlette(routes=[
        Route("/v1/chat/completions", chat_completions, methods=["POST"]),
        Route("/v1/files", files_create, methods=["POST"]),
        Route("/v1/files/{file_id}/content", files_content),
        Route("/v1/batches", batches_create, methods=["POST"]),
        Route("/v1/batches/{batch_id}", batches_retrieve),
        Route("/v1/batches/{batch_id}/cancel", batches_cancel, methods=["POST"]),
        Route("/stats", stats),
    ])
    app.state.batch_latency_s = batch_latency_s
    return app


class ThreadedServer:
    """The app in a background thread of this process, on a free loopback port. `app.state.batch_latency_s` may
    be changed while it runs."""

    def __init__(self, latency_s: float = 0.0, hang_s: float = 30.0, batch_latency_s: float = 0.0):
        from wavecoder_assets.llm.server import free_port

        self.port = free_port()
        self.app = create_app(latency_s, hang_s, batch_latency_s)
        config = uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning", access_log=False,
                                timeout_graceful_shutdown=1)
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
    parser.add_argument("--batch-latency", type=float, default=0.0)
    args = parser.parse_args()
    uvicorn.run(create_app(args.latency, batch_latency_s=args.batch_latency), host="127.0.0.1", port=args.port,
                log_level="warning", access_log=False)

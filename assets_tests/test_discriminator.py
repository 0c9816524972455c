"""The discriminator's judge step against a scripted OpenAI-compatible endpoint (a real HTTP server on loopback,
talked to by the real ChatClient): a reason copied word for word from a few-shot example is asked again."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from wavecoder_assets.generate.discriminator import DiscriminatorSettings, discriminate
from wavecoder_assets.llm import ChatClient

CODE = "def area(width, height):\n    \"\"\"Area of a rectangle.\"\"\"\n    return width * height"
ROW = {"example_id": "ex1", "task_name": "code_summarization", "language": "python", "target_language": None,
       "code": CODE, "instruction": "Summarize what the following Python function does.", "information": CODE,
       "solution": "The function area multiplies width by height and returns the rectangle's area.", "tests": None}


class ScriptedJudge:
    """Answers every chat completion with a verdict JSON: the first few-shot analysis shown in the conversation,
    verbatim, for the seeds in `copy_on_seeds`; otherwise reasons about the data itself."""

    def __init__(self, copy_on_seeds: set[int]):
        self.seen: list[dict] = []
        judge = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["content-length"])))
                judge.seen.append(body)
                shown = [m["content"] for m in body["messages"] if m["role"] == "assistant"]
                fresh = {"reason": "area returns width * height, as the summary says", "answer": "yes"}
                content = (shown[0] if body.get("seed") in copy_on_seeds and shown
                           else json.dumps({"solution_resolves": fresh, "instruction_relevant": fresh}))
                answer = json.dumps({"id": "c1", "object": "chat.completion", "created": 0, "model": body["model"],
                                     "choices": [{"index": 0, "finish_reason": "stop",
                                                  "message": {"role": "assistant", "content": content}}],
                                     "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20}})
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.end_headers()
                self.wfile.write(answer.encode())

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.client = ChatClient(f"http://127.0.0.1:{self.server.server_port}/v1", "judge", max_retries=0)

    def close(self):
        self.server.shutdown()


@pytest.fixture
def scripted():
    judges = []

    def make(copy_on_seeds: set[int]) -> ScriptedJudge:
        judges.append(ScriptedJudge(copy_on_seeds))
        return judges[-1]

    yield make
    for judge in judges:
        judge.close()


def test_a_copied_reason_is_asked_again_and_the_fresh_answer_stands(scripted):
    judge = scripted(copy_on_seeds={0})
    [outcome] = discriminate([ROW], judge.client, DiscriminatorSettings(execute=False))
    assert [body["seed"] for body in judge.seen] == [0, 1]
    assert outcome["copied_reasons"] == 0 and outcome["verdict"] == "accepted"
    assert "width * height" in outcome["rule_verdicts"]["solution_resolves"]["reason"]


def test_an_answer_without_copies_is_asked_once(scripted):
    judge = scripted(copy_on_seeds=set())
    [outcome] = discriminate([ROW], judge.client, DiscriminatorSettings(execute=False))
    assert len(judge.seen) == 1 and outcome["copied_reasons"] == 0


def test_copies_in_the_second_answer_are_counted(scripted):
    judge = scripted(copy_on_seeds={0, 1})
    [outcome] = discriminate([ROW], judge.client, DiscriminatorSettings(execute=False))
    assert len(judge.seen) == 2
    assert outcome["copied_reasons"] == 2  # both rules' reasons repeat the example's analysis

"""Publishing CodeOcean: the staged Hub folder loads with `datasets`, the card parses with huggingface_hub, and
the push speaks the Hub's HTTP protocol to a local server at the client's endpoint: create-repo, then one
commit whose message names the data version."""

from __future__ import annotations

import base64
import io
import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import dagster as dg
import polars as pl
import pytest
import yaml
from huggingface_hub import DatasetCard

from wavecoder_assets.assets import publish as publish_assets
from wavecoder_assets.generate.ocean import OCEAN_COLUMNS, REJECTED_SCHEMA, content_version
from wavecoder_assets.publish.dataset import DATA_FILE, CardFacts, push_dataset, size_category, stage_dataset
from wavecoder_assets.resources import resources_for
from wavecoder_assets.resources.hub import HubResource
from wavecoder_assets.resources.lake import asset_path, write_parquet_atomic

REPO = "someone/code-ocean"


def ocean(n: int = 5) -> pl.DataFrame:
    tasks = ["code_generation", "code_summarization", "code_repair", "code_translation"]
    return pl.DataFrame([{
        "example_id": f"e{i}", "source_id": f"s{i}", "task_name": tasks[i % 4], "language": "python",
        "instruction": f"Write a Python function number {i}.", "information": "", "solution": f"def f{i}():\n    return {i}",
        "generator_model": "qwen2.5-coder-0.5b-instruct", "judge_model": "qwen2.5-coder-1.5b-instruct",
        "prompt_version": "wavecoder-gen-v1"} for i in range(n)], schema={c: pl.String for c in OCEAN_COLUMNS})


def test_staged_folder_loads_with_datasets_and_the_card_parses(tmp_path):
    import datasets

    frame = ocean()
    facts = CardFacts(repo_id=REPO, data_version=content_version(frame), sources={"stdlib": 1200},
                      filters={"length": 40}, coreset_size=40, generator_models=["qwen2.5-coder-0.5b-instruct"],
                      judge_models=["qwen2.5-coder-1.5b-instruct"], rules={"names_language": "The instruction names it."},
                      outcomes={"accepted": 5, "rejected": 3, "failed": 1},
                      decontamination="13-gram overlap against HumanEval; MBPP: skipped", decontaminated=1)
    folder = stage_dataset(frame, tmp_path / "hub", facts)
    loaded = datasets.load_dataset("parquet", data_files=str(folder / DATA_FILE), split="train")
    assert loaded.num_rows == 5 and loaded[0]["instruction"] == frame["instruction"][0]
    card = DatasetCard.load(folder / "README.md")
    data = card.data.to_dict()
    assert data["license"] == "other" and data["task_categories"] == ["text-generation"]
    assert data["size_categories"] == ["n<1K"] and "code" in data["language"]
    assert data["configs"][0]["data_files"][0]["path"] == "data/train-*.parquet"
    features = {f["name"]: f["dtype"] for f in data["dataset_info"]["features"]}
    assert features == {c: "string" for c in OCEAN_COLUMNS}
    assert data["dataset_info"]["splits"][0]["num_examples"] == 5
    for text in ("arXiv 2312.14187", "KCenterGreedy", "coreset of\n   40", "qwen2.5-coder-1.5b-instruct",
                 "`names_language`", "MBPP: skipped", "| code_generation | 2 |", "| stdlib | 1,200 |",
                 facts.data_version, "@article{yu2023wavecoder"):
        assert text in card.text, text
    assert size_category(19_915) == "10K<n<100K"


@dataclass
class HubRequest:
    method: str
    path: str
    headers: dict
    content: bytes


class FakeHub:
    """A local HTTP server answering the Hub endpoints that create_repo + upload_folder call, as the Hub does
    (huggingface_hub 2.x talks through `httpx2`, which respx does not patch, so the intercept is a real server
    at the client's endpoint URL). Records every request."""

    def __init__(self):
        self.requests: list[HubRequest] = []
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                hub.requests.append(HubRequest(self.command, self.path.split("?")[0],
                                               {k.lower(): v for k, v in self.headers.items()}, body))
                status, payload = hub.answer(self.path.split("?")[0], body)
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_PUT = do_POST

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def answer(self, path: str, body: bytes) -> tuple[int, dict]:
        if path == "/api/validate-yaml":  # the Hub checks the card's metadata before the upload
            header = json.loads(body)["content"].split("---")[1]
            ok = isinstance(yaml.safe_load(header), dict)
            return (200, {"errors": [], "warnings": []}) if ok else (400, {"errors": [{"message": "bad YAML"}]})
        if path == "/api/repos/create":
            return 200, {"url": f"{self.endpoint}/datasets/{REPO}", "name": REPO}
        if path == f"/api/datasets/{REPO}/preupload/main":
            files = json.loads(body)["files"]
            return 200, {"files": [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False} for f in files]}
        if path == f"/api/datasets/{REPO}/commit/main":
            return 200, {"success": True, "commitOid": "a" * 40,
                         "commitUrl": f"{self.endpoint}/datasets/{REPO}/commit/{'a' * 40}"}
        return 404, {"error": f"not faked: {path}"}

    def calls(self) -> list[str]:
        return [f"{r.method} {r.path}" for r in self.requests]

    def commit(self) -> list[dict]:
        (request,) = [r for r in self.requests if r.path.endswith("/commit/main")]
        return [json.loads(line) for line in request.content.decode().splitlines()]


@pytest.fixture
def fake_hub():
    hub = FakeHub()
    hub.thread.start()
    yield hub
    hub.server.shutdown()
    hub.server.server_close()


def test_push_creates_the_repo_and_uploads_in_one_commit(tmp_path, fake_hub):
    frame = ocean()
    folder = stage_dataset(frame, tmp_path / "hub", CardFacts(repo_id=REPO, data_version="v123"))
    url = push_dataset(folder, REPO, token="hf_test_token", private=True, commit_message="Upload v123",
                       endpoint=fake_hub.endpoint)
    assert url.endswith("a" * 40)
    create = fake_hub.requests[0]
    assert fake_hub.calls()[0] == "POST /api/repos/create"
    payload = json.loads(create.content)
    assert {k: payload.get(k) for k in ("name", "organization", "type", "visibility")} == {
        "name": "code-ocean", "organization": "someone", "type": "dataset", "visibility": "private"}
    assert all(r.headers["authorization"] == "Bearer hf_test_token" for r in fake_hub.requests)
    assert fake_hub.calls() == ["POST /api/repos/create", "POST /api/validate-yaml",
                                f"POST /api/datasets/{REPO}/preupload/main", f"POST /api/datasets/{REPO}/commit/main"]
    header, *ops = fake_hub.commit()
    assert header == {"key": "header", "value": {"summary": "Upload v123", "description": ""}}
    files = {op["value"]["path"]: base64.b64decode(op["value"]["content"]) for op in ops if op["key"] == "file"}
    assert set(files) == {DATA_FILE, "README.md"}
    assert pl.read_parquet(io.BytesIO(files[DATA_FILE])).equals(frame)


def _lake_with_code_ocean(lake_dir: str) -> pl.DataFrame:
    frame = ocean()
    write_parquet_atomic(frame, asset_path(lake_dir, "code_ocean"))
    rejected = pl.DataFrame([{"example_id": "r1", "task_name": "code_repair", "outcome": "rejected",
                              "stage": "decontamination"}], schema=REJECTED_SCHEMA)
    write_parquet_atomic(rejected, asset_path(lake_dir, "code_ocean_rejected"))
    return frame


def _materialize_hub(lake_dir: str, hub: HubResource):
    assets = [dg.AssetSpec("code_ocean"), dg.AssetSpec("code_ocean_rejected"), dg.AssetSpec("judged_instructions"),
              publish_assets.code_ocean_hub]
    return dg.materialize(assets, selection=assets[-1:], resources=resources_for("local", lake_dir=lake_dir) | {"hub": hub})


def test_asset_dry_run_stages_only_and_local_resources_default_to_dry_run(lake_dir):
    assert resources_for("local", lake_dir=lake_dir)["hub"].dry_run
    frame = _lake_with_code_ocean(lake_dir)
    run = _materialize_hub(lake_dir, HubResource(repo_id=REPO, endpoint="http://127.0.0.1:9"))  # nothing listens
    assert run.success
    row = pl.read_parquet(asset_path(lake_dir, "code_ocean_hub")).row(0, named=True)
    assert not row["pushed"] and row["data_version"] == content_version(frame)
    staged = Path(row["staged_dir"])
    assert pl.read_parquet(staged / DATA_FILE).equals(frame)
    assert "1 accepted examples were removed" in (staged / "README.md").read_text()


def test_asset_push_names_the_data_version_in_its_one_commit(lake_dir, fake_hub, monkeypatch):
    frame = _lake_with_code_ocean(lake_dir)
    monkeypatch.setenv("HF_TOKEN", "hf_from_env")
    hub = HubResource(repo_id=REPO, dry_run=False, private=False, token=dg.EnvVar("HF_TOKEN"), endpoint=fake_hub.endpoint)
    run = _materialize_hub(lake_dir, hub)
    assert run.success
    version = content_version(frame)
    header, *_ = fake_hub.commit()
    assert version in header["value"]["summary"]
    assert json.loads(fake_hub.requests[0].content)["visibility"] == "public"
    assert fake_hub.requests[0].headers["authorization"] == "Bearer hf_from_env"
    row = pl.read_parquet(asset_path(lake_dir, "code_ocean_hub")).row(0, named=True)
    assert row["pushed"] and row["commit_url"].endswith("a" * 40)
    metadata = run.asset_materializations_for_node("code_ocean_hub")[0].metadata
    assert "hf_from_env" not in str(metadata)

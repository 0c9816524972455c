"""Stage CodeOcean as a Hugging Face Hub dataset folder (Parquet under data/, a README.md dataset card) and
push it with `huggingface_hub.HfApi` in one commit, tagged with CodeOcean's data version (a pinned revision)."""

from __future__ import annotations

import importlib
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import polars as pl
from huggingface_hub import DatasetCard, DatasetCardData, HfApi
from huggingface_hub.errors import HfHubHTTPError

from wavecoder_assets import CITATION

DATA_FILE = "data/train-00000-of-00001.parquet"


# The default licence: `other`, named and linked as the Hub requires, to a LICENSE.md staged beside the card
# that says the examples keep the licences of the source code they derive from.
DEFAULT_LICENSE_NAME = "code-ocean-source-licences"
DEFAULT_LICENSE_LINK = "LICENSE.md"
REPO_LICENSE_FILES = ("LICENSE", "LICENSE.md")  # license_link values that name a file in the repo (staged here)
_LICENSE_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]*$")


def check_license(license: str, license_name: str | None, license_link: str | None) -> None:
    """The Hub accepts `license: other` only with a license_name (an id like `my-license-1.0`) and a
    license_link (LICENSE / LICENSE.md in the repo, or an http(s) URL). Raises ValueError otherwise."""
    if not license:
        raise ValueError("the dataset card needs a licence id (e.g. apache-2.0, or other with license_name and "
                         "license_link)")
    if license != "other":
        return
    if not license_name or not license_link:
        raise ValueError(f"license 'other' needs license_name and license_link (got license_name={license_name!r}, "
                         f"license_link={license_link!r}); the Hub rejects the card without them")
    if not _LICENSE_NAME.match(license_name):
        raise ValueError(f"license_name {license_name!r} must be an id of lowercase letters, digits, '.', '_' or "
                         "'-', like my-license-1.0")
    if license_link not in REPO_LICENSE_FILES and not license_link.startswith(("https://", "http://")):
        raise ValueError(f"license_link {license_link!r} must be one of {', '.join(REPO_LICENSE_FILES)} (a file "
                         "staged in the repo) or an http(s) URL")


@dataclass
class CardFacts:
    """What the card says about how the data was made; counts come from the lake (see publish.facts)."""

    repo_id: str
    data_version: str
    license: str = "other"
    license_name: str | None = DEFAULT_LICENSE_NAME  # used when license is other
    license_link: str | None = DEFAULT_LICENSE_LINK  # used when license is other
    sources: dict[str, int] = field(default_factory=dict)  # raw_code source -> rows
    filters: dict[str, int] = field(default_factory=dict)  # filter rule -> rows removed
    coreset_size: int | None = None
    sent_to_generator: int | None = None  # coreset samples the generator wrote for (distinct source ids)
    candidates: int | None = None  # judged examples
    generator_models: list[str] = field(default_factory=list)
    judge_models: list[str] = field(default_factory=list)
    prompt_versions: list[str] = field(default_factory=list)
    rules: dict[str, str] = field(default_factory=dict)  # rule id -> text
    outcomes: dict[str, int] = field(default_factory=dict)  # accepted / rejected / failed over all candidates
    stages: dict[str, int] = field(default_factory=dict)  # "<outcome> at <stage>" -> rows not accepted
    decontaminated: dict[str, int] = field(default_factory=dict)  # benchmark -> accepted examples removed
    caught: dict[str, int] = field(default_factory=dict)  # rule -> candidates it said no to in this run
    # labelled set -> {"rows", "balanced_accuracy", "true_accept_rate", "true_reject_rate", "judge_only_rows",
    # "judge_only_balanced_accuracy"} (judge_calibration)
    accuracy: dict[str, dict] = field(default_factory=dict)
    # lake table read -> {"table_version": Delta version, "data_version": content version} (see publish.facts)
    inputs: dict[str, dict] = field(default_factory=dict)

    def __post_init__(self):
        check_license(self.license, self.license_name, self.license_link)

    def license_fields(self) -> dict[str, str]:
        """The card header's licence keys."""
        if self.license != "other":
            return {"license": self.license}
        return {"license": self.license, "license_name": self.license_name, "license_link": self.license_link}


def size_category(n: int) -> str:
    for limit, name in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M")):
        if n < limit:
            return name
    return "1M<n<10M"


_DTYPES = {pl.String: "string", pl.Int64: "int64", pl.Int32: "int32", pl.Float64: "float64", pl.Boolean: "bool"}


def _feature(name: str, dtype: pl.DataType) -> dict:
    """A column as the card's dataset_info feature (a list column is a `sequence` of its items' type)."""
    if isinstance(dtype, pl.List):
        return {"name": name, "sequence": _DTYPES.get(dtype.inner, "string")}
    return {"name": name, "dtype": _DTYPES.get(dtype, "string")}


def card_data(frame: pl.DataFrame, facts: CardFacts, num_bytes: int) -> DatasetCardData:
    languages = sorted(set(frame["language"].unique().to_list()) if frame.height else set())
    return DatasetCardData(
        **facts.license_fields(),
        language=["en", "code"],
        task_categories=["text-generation"],
        tags=["code", "instruction-tuning", "wavecoder"] + languages,
        size_categories=[size_category(frame.height)],
        pretty_name="CodeOcean (WaveCoder pipeline)",
        configs=[{"config_name": "default", "data_files": [{"split": "train", "path": "data/train-*.parquet"}]}],
        dataset_info={
            "features": [_feature(name, dtype) for name, dtype in frame.schema.items()],
            "splits": [{"name": "train", "num_bytes": num_bytes, "num_examples": frame.height}],
        },
    )


def _table(counts: dict, key: str, value: str = "rows") -> str:
    if not counts:
        return "_none recorded_"
    lines = [f"| {key} | {value} |", "|---|---:|"]
    return "\n".join(lines + [f"| {k} | {v:,} |" for k, v in sorted(counts.items())])


def _number(n: int | None, unknown: str = "an unrecorded number of") -> str:
    return unknown if n is None else f"{n:,}"


def _generator_step(facts: CardFacts) -> str:
    if facts.sent_to_generator is None:
        sent = "Coreset samples"
    elif facts.coreset_size is not None and facts.sent_to_generator == facts.coreset_size:
        sent = f"All {facts.sent_to_generator:,} coreset samples"
    else:
        sent = (f"{facts.sent_to_generator:,} of the {_number(facts.coreset_size, 'unrecorded number of')} coreset "
                "samples (best rank first; the generation config caps how many are used)")
    return (f"{sent} were sent to an LLM generator ({', '.join(facts.generator_models) or 'unrecorded'}; prompt "
            f"{', '.join(facts.prompt_versions) or 'unrecorded'}), which wrote one example of each sample's assigned "
            "task, following a task definition, generation requirements and few-shot examples (good and bad ones "
            f"from earlier rounds): {_number(facts.candidates)} candidates. A code repair's bug was put into the real "
            "function by code (one operator or literal changed); its fix is the original function, and the "
            "generator wrote the instruction and the tests.")


def _accuracy_step(facts: CardFacts) -> str:
    if not facts.accuracy:
        return "The discriminator's accuracy was not measured on a labelled set for this data."
    lines = ["| labelled set | rows | balanced accuracy | correct rows accepted | wrong rows rejected | "
             "the LLM judge alone: balanced accuracy (rows) |", "|---|---:|---:|---:|---:|---:|"]
    lines += [f"| {name} | {a['rows']} | {_rate(a['balanced_accuracy'])} | {_rate(a['true_accept_rate'])} | "
              f"{_rate(a['true_reject_rate'])} | {_rate(a['judge_only_balanced_accuracy'])} "
              f"({a['judge_only_rows']}) |" for name, a in sorted(facts.accuracy.items())]
    return ("The same discriminator settings, measured on labelled rows (`judge_calibration`: correct rows and rows "
            "that break one rule; `judge_semantic` holds semantic errors only the LLM can decide). The judge alone: "
            "the rows no code check, test or run beside the source decided (n/a where those hold one label):\n\n"
            + "\n".join(lines))


def _rate(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def _decontamination_step(facts: CardFacts) -> str:
    removed = sum(facts.decontaminated.values())
    if not removed:
        return ("No accepted example was removed for sharing a word n-gram with a benchmark problem (no "
                "decontamination rows in the rejected table).")
    was = "example was" if removed == 1 else "examples were"
    return (f"{removed:,} accepted {was} removed for sharing a word n-gram with a benchmark problem's prompt or "
            f"solution:\n\n{_table(facts.decontaminated, 'benchmark', 'removed')}")


def _inputs_table(inputs: dict[str, dict]) -> str:
    if not inputs:
        return "_not recorded_"
    lines = ["| table | table version | data version |", "|---|---:|---|"]
    return "\n".join(lines + [f"| {name} | {v.get('table_version', '?')} | `{v.get('data_version') or 'unknown'}` |"
                              for name, v in sorted(inputs.items())])


def card_text(frame: pl.DataFrame, facts: CardFacts) -> str:
    per_task = dict(frame.group_by("task_name").len().iter_rows()) if frame.height else {}
    per_language = dict(frame.group_by("language").len().iter_rows()) if frame.height else {}
    rules = "\n".join(f"- `{rid}`: {text}" for rid, text in facts.rules.items()) or "_not recorded_"
    licence = (f"The card's licence is `{facts.license_name}` ([{facts.license_link}]({facts.license_link})): "
               if facts.license == "other" else f"The card's licence is `{facts.license}`; ")
    return f"""# CodeOcean (WaveCoder pipeline)

Instruction-tuning data for code models in the four tasks of WaveCoder (arXiv 2312.14187): code generation,
code summarization, code translation and code repair. {frame.height:,} examples; data version
`{facts.data_version}`. Columns: `task_name`, `instruction`, `information` (the input; may be empty),
`solution`, and provenance (`source_id`, `generator_model`, `judge_model`, `prompt_version`).

## How it was made

1. **Raw code.** Functions with their docstrings, from these sources:

{_table(facts.sources, "source")}

2. **Filters.** Length bounds, a blacklist of words, exact and near de-duplication; rows removed per rule:

{_table(facts.filters, "rule", "removed")}

3. **Coreset.** Embeddings of every filtered sample and KCenterGreedy picked a diverse coreset of
   {_number(facts.coreset_size)} samples.
4. **Generator.** {_generator_step(facts)}
5. **Discriminator.** An LLM judge ({", ".join(facts.judge_models) or "unrecorded"}) answered this checklist
   yes/no with reasons; code solutions were also parsed, and their generated tests run in a sandbox:

{rules}

   Outcomes over all{"" if facts.candidates is None else f" {facts.candidates:,}"} candidates:

{_table(facts.outcomes, "outcome")}

   Where the others stopped:

{_table(facts.stages, "outcome at stage")}

   What each rule caught in this run (candidates it said no to; a candidate may fail several):

{_table(facts.caught, "rule", "said no")}

   {_accuracy_step(facts)}

   Each row records what decided it: `tests` and `tests_passed` (empty where no tests ran), `decided_by` (the rules
   that answered yes) and `decided_by_kinds` (`code_check`, `execution`, `contrastive`, `judge`). For example, rows
   whose tests ran: `tests_passed == True`; rows only the LLM decided: `decided_by_kinds` without `execution`.

6. **Decontamination.** {_decontamination_step(facts)}

## Data versions

Built from these tables of the pipeline's Delta lake (the version read, and its content hash: the data version
the pipeline records for the asset); the Hub tag `code-ocean-{facts.data_version}` pins this data:

{_inputs_table(facts.inputs)}

## Contents

{_table(per_task, "task")}

{_table(per_language, "language")}

## Licence

{licence}the examples derive from the source code listed above, which stays under its own licences.

## Citation

```bibtex
{CITATION}
```
"""


LICENSE_TEXT = """# Licence of this dataset

The examples in this dataset were generated by language models from source code (functions with their
docstrings) collected from the sources listed in README.md. Code in the examples, and text derived from it,
stays under the licences of the source code it derives from; check those licences before you use or
redistribute an example. The `source_id` column traces each example to its source sample.
"""


def stage_dataset(frame: pl.DataFrame, folder: str | Path, facts: CardFacts) -> Path:
    """Write the Hub folder afresh: data/*.parquet, README.md and, when the card links a licence file in the
    repo, that file. Returns the folder."""
    folder = Path(folder)
    if folder.exists():
        shutil.rmtree(folder)
    (folder / "data").mkdir(parents=True)
    frame.write_parquet(folder / DATA_FILE, compression="zstd")
    data = card_data(frame, facts, (folder / DATA_FILE).stat().st_size)
    card = DatasetCard(f"---\n{data.to_yaml()}\n---\n\n{card_text(frame, facts)}")
    card.save(folder / "README.md")
    if facts.license == "other" and facts.license_link in REPO_LICENSE_FILES:
        (folder / facts.license_link).write_text(LICENSE_TEXT)
    return folder


class HubConnectionError(ConnectionError):
    """The Hub endpoint could not be reached (refused, unresolvable, timed out, TLS or proxy failure)."""

    def __init__(self, endpoint: str, action: str, cause: BaseException):
        self.endpoint = endpoint
        super().__init__(f"cannot reach the Hugging Face Hub at {endpoint} while {action}: "
                         f"{type(cause).__name__}: {cause}. Check the endpoint (the hub resource's `endpoint`, "
                         "or HF_ENDPOINT), the network and any proxy settings.")


def _connection_errors() -> tuple[type[BaseException], ...]:
    """Connection-level failures of the HTTP clients huggingface_hub may use (httpx, its httpx2 fork,
    requests) and of the socket layer. HTTP error statuses are not among them: they name their URL."""
    errors: list[type[BaseException]] = [ConnectionError, TimeoutError]
    for name in ("httpx", "httpx2"):
        try:
            errors.append(importlib.import_module(name).TransportError)
        except (ImportError, AttributeError):
            pass
    try:
        requests = importlib.import_module("requests")
        errors += [requests.exceptions.ConnectionError, requests.exceptions.Timeout]
    except ImportError:
        pass
    return tuple(errors)


def tag_name(data_version: str) -> str:
    """The Hub tag that pins a pushed CodeOcean: code-ocean-<data version>."""
    return f"code-ocean-{data_version}"


@dataclass(frozen=True)
class PushResult:
    """Where a push landed: the commit, and the tag pinning the data (when one was asked for)."""

    commit_url: str
    commit_sha: str
    tag: str | None = None
    tag_url: str | None = None  # the repo's file tree at the tag
    tag_commit: str | None = None  # the commit the tag points to (an earlier one when the tag already existed)
    tag_created: bool = False  # False: the tag already existed (the same data was pushed before)


def push_dataset(folder: str | Path, repo_id: str, *, token: str | None, private: bool, commit_message: str,
                 endpoint: str | None = None, tag: str | None = None, tag_message: str | None = None) -> PushResult:
    """Create the dataset repo (exist_ok), upload the folder in one commit and, with `tag`, tag that commit.

    A tag names data (CodeOcean's data version), so when it exists already (HTTP 409: the same data was pushed
    before, perhaps with another card) it is left where it is and its commit is looked up and returned with
    tag_created False. A connection failure raises HubConnectionError, naming the endpoint URL and the step."""
    api = HfApi(endpoint=endpoint, token=token)
    where = api.endpoint  # the URL actually used: `endpoint`, else HF_ENDPOINT, else huggingface.co
    action = f"creating the dataset repo {repo_id}"
    try:
        api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
        action = f"uploading {folder} to {repo_id}"
        info = api.upload_folder(repo_id=repo_id, folder_path=str(folder), repo_type="dataset",
                                 commit_message=commit_message)
        result = PushResult(commit_url=info.commit_url, commit_sha=info.oid)
        if not tag:
            return result
        action = f"tagging commit {info.oid} of {repo_id} as {tag}"
        tag_url = f"{where.rstrip('/')}/datasets/{repo_id}/tree/{quote(tag, safe='')}"
        try:
            api.create_tag(repo_id, tag=tag, tag_message=tag_message, revision=info.oid, repo_type="dataset")
            return PushResult(info.commit_url, info.oid, tag, tag_url, tag_commit=info.oid, tag_created=True)
        except HfHubHTTPError as error:
            if error.response is None or error.response.status_code != 409:
                raise
        action = f"looking up the existing tag {tag} of {repo_id}"
        refs = api.list_repo_refs(repo_id, repo_type="dataset")
        tagged = next((ref.target_commit for ref in refs.tags if ref.name == tag), None)
        return PushResult(info.commit_url, info.oid, tag, tag_url, tag_commit=tagged, tag_created=False)
    except HubConnectionError:
        raise
    except _connection_errors() as error:
        raise HubConnectionError(where, action, error) from error

"""Stage CodeOcean as a Hugging Face Hub dataset folder (Parquet under data/, a README.md dataset card) and
push it with `huggingface_hub.HfApi` in one commit."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl
from huggingface_hub import DatasetCard, DatasetCardData, HfApi

from wavecoder_assets import CITATION

DATA_FILE = "data/train-00000-of-00001.parquet"


@dataclass
class CardFacts:
    """What the card says about how the data was made; counts come from the lake."""

    repo_id: str
    data_version: str
    license: str = "other"
    sources: dict[str, int] = field(default_factory=dict)  # raw_code source -> rows
    filters: dict[str, int] = field(default_factory=dict)  # filter rule -> rows removed
    coreset_size: int | None = None
    generator_models: list[str] = field(default_factory=list)
    judge_models: list[str] = field(default_factory=list)
    prompt_versions: list[str] = field(default_factory=list)
    rules: dict[str, str] = field(default_factory=dict)  # rule id -> text
    outcomes: dict[str, int] = field(default_factory=dict)  # accepted / rejected / failed over all candidates
    decontamination: str = "not run"
    decontaminated: int = 0


def size_category(n: int) -> str:
    for limit, name in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M")):
        if n < limit:
            return name
    return "1M<n<10M"


_DTYPES = {pl.String: "string", pl.Int64: "int64", pl.Int32: "int32", pl.Float64: "float64", pl.Boolean: "bool"}


def card_data(frame: pl.DataFrame, facts: CardFacts, num_bytes: int) -> DatasetCardData:
    languages = sorted(set(frame["language"].unique().to_list()) if frame.height else set())
    return DatasetCardData(
        license=facts.license,
        language=["en", "code"],
        task_categories=["text-generation"],
        tags=["code", "instruction-tuning", "wavecoder"] + languages,
        size_categories=[size_category(frame.height)],
        pretty_name="CodeOcean (WaveCoder pipeline)",
        configs=[{"config_name": "default", "data_files": [{"split": "train", "path": "data/train-*.parquet"}]}],
        dataset_info={
            "features": [{"name": name, "dtype": _DTYPES.get(dtype, "string")} for name, dtype in frame.schema.items()],
            "splits": [{"name": "train", "num_bytes": num_bytes, "num_examples": frame.height}],
        },
    )


def _table(counts: dict, key: str, value: str = "rows") -> str:
    if not counts:
        return "_none recorded_"
    lines = [f"| {key} | {value} |", "|---|---:|"]
    return "\n".join(lines + [f"| {k} | {v:,} |" for k, v in sorted(counts.items())])


def card_text(frame: pl.DataFrame, facts: CardFacts) -> str:
    per_task = dict(frame.group_by("task_name").len().iter_rows()) if frame.height else {}
    per_language = dict(frame.group_by("language").len().iter_rows()) if frame.height else {}
    rules = "\n".join(f"- `{rid}`: {text}" for rid, text in facts.rules.items()) or "_not recorded_"
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
   {facts.coreset_size if facts.coreset_size is not None else "an unrecorded number of"} samples.
4. **Generator.** For each coreset sample an LLM ({", ".join(facts.generator_models) or "unrecorded"}; prompt
   {", ".join(facts.prompt_versions) or "unrecorded"}) wrote one example of its assigned task, following a task
   definition, generation requirements and few-shot examples (good and bad ones from earlier rounds).
5. **Discriminator.** An LLM judge ({", ".join(facts.judge_models) or "unrecorded"}) answered this checklist
   yes/no with reasons; Python solutions were also parsed, and their generated tests run in a sandbox:

{rules}

   Outcomes over all candidates:

{_table(facts.outcomes, "outcome")}

6. **Decontamination.** {facts.decontamination}; {facts.decontaminated} accepted examples were removed.

## Contents

{_table(per_task, "task")}

{_table(per_language, "language")}

## Licence

The examples derive from the source code listed above, which stays under its own licences.

## Citation

```bibtex
{CITATION}
```
"""


def stage_dataset(frame: pl.DataFrame, folder: str | Path, facts: CardFacts) -> Path:
    """Write the Hub folder afresh: data/*.parquet and README.md. Returns the folder."""
    folder = Path(folder)
    if folder.exists():
        shutil.rmtree(folder)
    (folder / "data").mkdir(parents=True)
    frame.write_parquet(folder / DATA_FILE, compression="zstd")
    data = card_data(frame, facts, (folder / DATA_FILE).stat().st_size)
    card = DatasetCard(f"---\n{data.to_yaml()}\n---\n\n{card_text(frame, facts)}")
    card.save(folder / "README.md")
    return folder


def push_dataset(folder: str | Path, repo_id: str, *, token: str | None, private: bool, commit_message: str,
                 endpoint: str | None = None) -> str:
    """Create the dataset repo (exist_ok) and upload the folder in one commit; returns the commit URL."""
    api = HfApi(endpoint=endpoint, token=token)
    api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
    info = api.upload_folder(repo_id=repo_id, folder_path=str(folder), repo_type="dataset",
                             commit_message=commit_message)
    return info.commit_url

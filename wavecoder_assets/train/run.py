"""One fine-tuning run end to end: load the base, tokenize CodeOcean, train, merge, save with a model card; in this
process, or in `num_processes` processes launched with torchrun (`python -m torch.distributed.run`), each running
`wavecoder_assets.train.worker` on a job file. The finetuned_model asset wires this to the lake and shows its
`FinetuneRun` in the UI."""

from __future__ import annotations

import collections
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import polars as pl
import torch
from transformers import AutoModelForCausalLM

from wavecoder_assets.lakefiles import is_table, scan_table_path
from wavecoder_assets.train.card import loss_curve_png, model_card
from wavecoder_assets.train.data import tokenize_code_ocean
from wavecoder_assets.train.distributed import current_world, full_model_on_main
from wavecoder_assets.train.finetune import (
    PAPER_RECIPE,
    Hyperparameters,
    TrainResult,
    load_base_model,
    merged,
    prepare_for_training,
    save_model_atomic,
    train,
    weights_dtype,
)
from wavecoder_assets.train.gguf_export import gguf_file_name, write_gguf

MODEL_ROW_SCHEMA = {"model_name": pl.String, "model_dir": pl.String, "base_model": pl.String,
                    "base_gguf_file": pl.String, "method": pl.String, "train_rows": pl.Int64, "steps": pl.Int64,
                    "final_loss": pl.Float64, "code_ocean_data_version": pl.String, "gguf_path": pl.String}


@dataclass
class FinetuneRun:
    model_dir: Path
    base_gguf_file: str | None
    train_rows: int
    skipped: dict[str, int]
    result: TrainResult
    loss_png: bytes
    parameters: int
    trainable_parameters: int
    load_seconds: float
    save_seconds: float
    gguf_path: str | None  # the merged model as GGUF, beside the safetensors; None when the base was no GGUF
    gguf_seconds: float

    def to_json(self) -> str:
        """Everything but the loss plot, which is saved beside the model."""
        fields = {k: v for k, v in asdict(self).items() if k != "loss_png"}
        return json.dumps({**fields, "model_dir": str(self.model_dir)})

    @classmethod
    def from_json(cls, text: str) -> FinetuneRun:
        fields = json.loads(text)
        model_dir = Path(fields.pop("model_dir"))
        return cls(**{**fields, "model_dir": model_dir, "result": TrainResult(**fields["result"]),
                      "loss_png": (model_dir / "loss_curve.png").read_bytes()})

    def row(self, model_name: str, base_model: str, hp: Hyperparameters, data_version: str) -> pl.DataFrame:
        """The finetuned_model table: one row naming the saved folder and what made it."""
        return pl.DataFrame([{"model_name": model_name, "model_dir": str(self.model_dir), "base_model": base_model,
                              "base_gguf_file": self.base_gguf_file, "method": hp.method, "train_rows": self.train_rows,
                              "steps": len(self.result.losses), "final_loss": self.result.losses[-1],
                              "code_ocean_data_version": data_version, "gguf_path": self.gguf_path}],
                            schema=MODEL_ROW_SCHEMA)


def finetune(code_ocean: pl.DataFrame, *, model_name: str, base_model: str, hp: Hyperparameters, model_dir: Path,
             data_version: str, log: Callable[[str], object] = print) -> FinetuneRun | None:
    """Fine-tune `base_model` on CodeOcean (instruction + information -> solution) and save the merged model, its
    card and loss curve under `model_dir` (atomically), and, when the base is a GGUF (whose tokenizer it copies),
    the merged model as a GGUF file beside them. Raises ValueError when no row is usable.

    Under torch.distributed every rank calls this; each trains on its share of the batches, rank 0 saves the
    gathered weights and returns the run, the other ranks return None."""
    if code_ocean.height == 0:
        raise ValueError("code_ocean has no rows; materialize it first")
    world = current_world()
    started = time.perf_counter()
    with world.main_first():
        base = load_base_model(base_model, weights_dtype(hp))
    load_seconds = time.perf_counter() - started
    examples, skipped = tokenize_code_ocean(code_ocean, base.tokenizer, hp.max_length)
    if not examples:
        raise ValueError(f"every code_ocean row was skipped: {dict(skipped)}")
    if skipped and world.is_main:
        log(f"skipped code_ocean rows: {dict(skipped)}")
    config, generation_config = base.model.config, base.model.generation_config
    model = prepare_for_training(base.model, hp)
    parameters = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    result = train(model, base.tokenizer, examples, hp, log=log if world.is_main else lambda _: None)

    def skeleton() -> torch.nn.Module:
        """The architecture without memory, for the gathered weights."""
        with torch.device("meta"):
            empty = AutoModelForCausalLM.from_config(config)
        empty.generation_config = generation_config
        return prepare_for_training(empty, hp)

    started = time.perf_counter()
    trained = full_model_on_main(model, world, skeleton)
    if trained is None:
        return None
    png = loss_curve_png(result.losses, title=f"{model_name}: training loss")
    base_gguf_file = str(base.gguf_file) if base.gguf_file else None
    gguf_name = gguf_file_name(model_name) if base.gguf_file else None
    card = model_card(model_name=model_name, base_model=base_model, base_gguf_file=base_gguf_file, hp=hp,
                      result=result, train_rows=len(examples), skipped=dict(skipped), data_version=data_version,
                      task_counts=dict(code_ocean.group_by("task_name").len().iter_rows()), gguf_name=gguf_name)
    final = merged(trained)
    saved = save_model_atomic(final, base.tokenizer, model_dir, {"README.md": card, "loss_curve.png": png})
    save_seconds, started = time.perf_counter() - started, time.perf_counter()
    gguf_path = str(write_gguf(final, saved / gguf_name, base_gguf=base.gguf_file, model_name=model_name)) if gguf_name else None
    return FinetuneRun(model_dir=saved, base_gguf_file=base_gguf_file, train_rows=len(examples), skipped=dict(skipped),
                       result=result, loss_png=png, parameters=parameters, trainable_parameters=trainable,
                       load_seconds=load_seconds, save_seconds=save_seconds, gguf_path=gguf_path,
                       gguf_seconds=time.perf_counter() - started)


@dataclass
class FinetuneJob:
    """What each torchrun worker reads: `python -m wavecoder_assets.train.worker JOB.json`. On several nodes the
    paths must be on storage every node sees."""

    code_ocean: str  # a parquet file or a Delta table folder (e.g. data_lake/code_ocean)
    model_name: str
    base_model: str
    model_dir: str
    data_version: str
    hyperparameters: dict  # Hyperparameters' fields; the missing ones take the paper's recipe (PAPER_RECIPE)
    result: str  # rank 0 writes the FinetuneRun here as JSON

    def write(self, path: Path) -> Path:
        Path(path).write_text(json.dumps(asdict(self), indent=2))
        return Path(path)

    @classmethod
    def read(cls, path: Path) -> FinetuneJob:
        return cls(**json.loads(Path(path).read_text()))

    def code_ocean_frame(self) -> pl.DataFrame:
        path = Path(self.code_ocean)
        return scan_table_path(path)[0].collect() if is_table(path) else pl.read_parquet(path)

    def hp(self) -> Hyperparameters:
        return Hyperparameters(**(PAPER_RECIPE | self.hyperparameters))

    def run(self, log: Callable[[str], object] = print) -> FinetuneRun | None:
        return finetune(self.code_ocean_frame(), model_name=self.model_name, base_model=self.base_model, hp=self.hp(),
                        model_dir=Path(self.model_dir), data_version=self.data_version, log=log)


def torchrun_command(job_file: Path, num_processes: int) -> list[str]:
    """One node, `num_processes` workers (one per GPU), rendezvous on a free local port."""
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(num_processes),
            "-m", "wavecoder_assets.train.worker", str(job_file)]


def finetune_with_torchrun(code_ocean: pl.DataFrame, *, num_processes: int, model_name: str, base_model: str,
                           hp: Hyperparameters, model_dir: Path, data_version: str,
                           log: Callable[[str], object] = print) -> FinetuneRun:
    """`finetune` in `num_processes` torchrun workers on this machine: the frame and a job file go to a temp folder,
    the workers' output is passed to `log` line by line as it comes, and rank 0's FinetuneRun is read back.
    Raises RuntimeError with the output's last lines when torchrun fails."""
    if code_ocean.height == 0:
        raise ValueError("code_ocean has no rows; materialize it first")
    hp.grad_accum_steps(num_processes)  # fail here, not in every worker
    if torch.cuda.is_available() and num_processes > torch.cuda.device_count():
        raise ValueError(f"num_processes {num_processes} is more than this machine's {torch.cuda.device_count()} GPUs")
    with tempfile.TemporaryDirectory(prefix="finetune-") as tmp:
        frame_path = Path(tmp) / "code_ocean.parquet"
        code_ocean.write_parquet(frame_path)
        job = FinetuneJob(code_ocean=str(frame_path), model_name=model_name, base_model=base_model,
                          model_dir=str(model_dir), data_version=data_version, hyperparameters=hp.recipe(),
                          result=str(Path(tmp) / "result.json"))
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        if not torch.cuda.is_available():  # torchrun's default is 1 thread per worker
            env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // num_processes)))
        tail: collections.deque[str] = collections.deque(maxlen=40)
        process = subprocess.Popen(torchrun_command(job.write(Path(tmp) / "job.json"), num_processes), env=env,
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace")
        try:
            for line in process.stdout:
                if line.strip():
                    tail.append(line.rstrip())
                    log(line.rstrip())
            returncode = process.wait()
        finally:
            if process.poll() is None:  # interrupted: torchrun passes the signal on to its workers
                process.terminate()
                process.wait()
        if returncode != 0:
            raise RuntimeError(f"torchrun with {num_processes} processes exited with {returncode}:\n" + "\n".join(tail))
        return FinetuneRun.from_json(Path(job.result).read_text())


def finetune_in_processes(code_ocean: pl.DataFrame, *, num_processes: int, model_name: str, base_model: str,
                          hp: Hyperparameters, model_dir: Path, data_version: str,
                          log: Callable[[str], object] = print) -> FinetuneRun:
    """One process: here. More: torchrun workers."""
    if num_processes == 1:
        return finetune(code_ocean, model_name=model_name, base_model=base_model, hp=hp, model_dir=model_dir,
                        data_version=data_version, log=log)
    return finetune_with_torchrun(code_ocean, num_processes=num_processes, model_name=model_name, base_model=base_model,
                                  hp=hp, model_dir=model_dir, data_version=data_version, log=log)


def weights_digest(model_dir: Path) -> str:
    """The saved weights' sha256 (first 32 hex digits): what evaluation downstream depends on."""
    digest = hashlib.sha256()
    for path in sorted(Path(model_dir).glob("*.safetensors")):
        with path.open("rb") as f:
            while block := f.read(1 << 24):
                digest.update(block)
    return digest.hexdigest()[:32]

"""A training worker: `python -m torch.distributed.run --nproc-per-node N -m wavecoder_assets.train.worker JOB.json`.

Every rank joins the process group, trains its share (see `run.finetune`), and rank 0 writes the FinetuneRun to the
job's result path. Ray Train calls `run_job` in each of its workers (it has made the group already).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from transformers.utils import logging as transformers_logging

from wavecoder_assets.train.distributed import join_world, leave_world
from wavecoder_assets.train.run import FinetuneJob, FinetuneRun


def say(line: str) -> None:
    """One write per line: every rank writes to torchrun's one pipe, and print's separate write of the newline let
    two ranks' lines run together ("rank 0/2 ...rank 1/2 ...")."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def run_job(job_file: str | Path) -> FinetuneRun | None:
    """This rank's part of the job; rank 0 returns the run (and writes it to the job's result path)."""
    world = join_world()
    transformers_logging.disable_progress_bar()  # carriage-return bars, one per rank, make poor log lines
    job = FinetuneJob.read(Path(job_file))
    say(f"rank {world.rank}/{world.size} on {world.device}: {job.model_name} from {job.base_model}")
    run = job.run(log=say)
    if run is not None:
        Path(job.result).write_text(run.to_json())
    # The others wait for rank 0's saving (the GGUF export takes seconds): a rank that left the group early aborted
    # ("terminate called without an active exception") and torchrun then stopped rank 0 mid-save.
    world.barrier()
    return run


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("job_file", help="a FinetuneJob as JSON (wavecoder_assets.train.run.FinetuneJob)")
    try:
        run_job(parser.parse_args().job_file)
    finally:
        leave_world()

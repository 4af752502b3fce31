"""Data-parallel torch runs: the process group a worker joins, and the torchrun launch that starts them.

A torch run over P > 1 processes is started by :func:`train_with_torchrun`
as ``python -m torch.distributed.run --standalone --nproc-per-node P -m
synthpedia.train.launch <spec.json>`` on the job's node: gloo on CPU, NCCL on
GPU (process r on ``cuda:r`` of the GPUs the job sees). Each process runs
:func:`synthpedia.train.train_torch`; process 0 writes the checkpoint, the
resume states and the loss rows the job turns into its table.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from synthpedia.errors import InputError

log = logging.getLogger(__name__)


@dataclass
class ProcessGroup:
    """This process's place in a data-parallel run (rank 0 of 1 when not under torchrun)."""

    rank: int
    world: int
    device: object  # torch.device
    joined: bool = False  # True when this group initialised torch.distributed (and so leaves it)

    def barrier(self) -> None:
        import torch.distributed as dist

        if self.world > 1:
            dist.barrier()

    def wrap(self, model):
        """`model` in DistributedDataParallel over the group, or itself in a single process."""
        if self.world == 1:
            return model
        from torch.nn.parallel import DistributedDataParallel

        ids = [self.device.index] if self.device.type == "cuda" else None
        return DistributedDataParallel(model, device_ids=ids)

    def no_sync(self, model, last: bool):
        """No gradient averaging for this backward unless it is the step's `last` micro-batch."""
        if self.world == 1 or last:
            return contextlib.nullcontext()
        return model.no_sync()

    def mean(self, value: float, device) -> float:
        """The mean of `value` over the processes."""
        if self.world == 1:
            return value
        import torch
        import torch.distributed as dist

        total = torch.tensor([value], dtype=torch.float64, device=device)
        dist.all_reduce(total)
        return float(total.item()) / self.world

    def leave(self) -> None:
        import torch.distributed as dist

        if self.joined and dist.is_initialized():
            dist.destroy_process_group()


def join_process_group(device_setting: str) -> ProcessGroup:
    """Join the torchrun process group described by the environment (``RANK``, ``WORLD_SIZE``, ...).

    `device_setting` is the run's ``device`` param: on ``cuda`` each process
    takes the GPU of its ``LOCAL_RANK`` and the group uses NCCL; on ``cpu``
    gloo. Outside torchrun: rank 0 of 1 on the device as given.
    """
    import torch

    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return ProcessGroup(0, 1, torch.device(device_setting))
    import torch.distributed as dist

    local = int(os.environ.get("LOCAL_RANK", "0"))
    cuda = device_setting.startswith("cuda")
    device = torch.device("cuda", local) if cuda else torch.device("cpu")
    joined = False
    if not dist.is_initialized():
        if cuda:
            torch.cuda.set_device(device)
        dist.init_process_group("nccl" if cuda else "gloo", device_id=device if cuda else None)
        joined = True
    return ProcessGroup(dist.get_rank(), dist.get_world_size(), device, joined)


def processes_for(params: dict) -> int:
    """Data-parallel processes of a torch run: ``processes``, or one per visible GPU on cuda, else 1."""
    if params.get("processes"):
        return int(params["processes"])
    if params["device"].startswith("cuda"):
        import torch

        return max(1, torch.cuda.device_count())
    return 1


def torchrun_command(processes: int, spec: str | os.PathLike) -> list[str]:
    """The torchrun command line that starts `processes` workers on this node for the run in `spec`."""
    return [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nnodes", "1",
        "--nproc-per-node", str(processes), "-m", "synthpedia.train.launch", str(spec),
    ]


def train_with_torchrun(processes: int, threads: int | None, log_file: str | None, **run) -> list[tuple]:
    """Run :func:`train_torch` in `processes` torchrun workers; returns the loss rows of process 0.

    `run` holds train_torch's arguments (token_dirs, weights, tokenizer_json,
    out_dir, params, seed, state_dir). The job's `threads` are shared among
    the workers (at least one each); their log lines go to `log_file` (None:
    stderr). A failed worker raises RuntimeError.
    """
    per_process = max(1, int(threads) // processes) if threads else None
    with tempfile.TemporaryDirectory(prefix="synthpedia-torchrun-") as tmp:
        spec = Path(tmp) / "spec.json"
        rows = Path(tmp) / "rows.json"
        spec.write_text(json.dumps({**run, "threads": per_process, "rows": str(rows), "log": log_file}))
        env = dict(os.environ)
        src = str(Path(__file__).resolve().parents[2])  # the folder holding the synthpedia package
        env["PYTHONPATH"] = os.pathsep.join([src, *filter(None, [env.get("PYTHONPATH")])])
        if per_process:
            env["OMP_NUM_THREADS"] = str(per_process)
        command = torchrun_command(processes, spec)
        log.info("train: %s", " ".join(command))
        done = subprocess.run(command, env=env, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"train: torchrun exited with {done.returncode} (the workers' lines are in the log)")
        return [tuple(r) for r in json.loads(rows.read_text())]


def _worker(spec_path: str) -> None:
    """One torchrun worker: train its share of the run in `spec_path`; process 0 writes the loss rows."""
    from synthpedia.logs import log_to
    from synthpedia.train.loop import train_torch

    spec = json.loads(Path(spec_path).read_text())
    log_to(spec.pop("log"))
    rank = int(os.environ.get("RANK", "0"))
    if rank:
        logging.getLogger().setLevel(logging.WARNING)  # one progress line per step, from process 0
    rows_path = spec.pop("rows")
    losses = train_torch(**spec)
    if rank == 0:
        tmp = Path(f"{rows_path}.tmp")
        tmp.write_text(json.dumps(losses.rows()))
        os.replace(tmp, rows_path)


def check_processes(params: dict, processes: int) -> None:
    """InputError when `processes` workers cannot share the run's global batch evenly."""
    from synthpedia.train.params import grad_accum_for

    if processes < 1:
        raise InputError(f"train params: processes must be >= 1, got {processes}")
    grad_accum_for(params, processes)


if __name__ == "__main__":
    _worker(sys.argv[1])

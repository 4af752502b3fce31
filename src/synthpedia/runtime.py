"""What a job sets up before it imports a heavy library: hub access and thread budgets.

Called by the job scripts, never at import: the workflow layer and the
Snakemake process stay untouched, so a cluster job that loads a model by hub
id can reach the hub unless the config says `offline: true`.
"""

from __future__ import annotations

import contextlib
import logging
import os

log = logging.getLogger(__name__)

OFFLINE_VARIABLES = ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE")
# Thread pools that size themselves to every core unless told otherwise.
THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "NUMBA_NUM_THREADS",
    "POLARS_MAX_THREADS",
    "RAYON_NUM_THREADS",
)


def prepare_job(offline: bool, threads: int | None = None, parallel_tokenizers: bool = False) -> None:
    """Set hub access and thread budgets for this job's process (and the processes it starts).

    `offline`: the config key `offline`; true sets the hub libraries' offline
    variables, false leaves the environment as the job got it.
    `threads`: the job's Snakemake `threads`; BLAS, OpenMP, numba, polars and
    torch then use that many threads and no more. Call it before those
    libraries are imported (torch is capped again here if it already is).
    """
    if offline:
        for name in OFFLINE_VARIABLES:
            os.environ[name] = "1"
    os.environ["TOKENIZERS_PARALLELISM"] = "true" if parallel_tokenizers else "false"
    if threads:
        threads = max(1, int(threads))
        for name in THREAD_VARIABLES:
            os.environ[name] = str(threads)
        import sys

        if "torch" in sys.modules:
            set_torch_threads(threads)
    import synthpedia

    hub = {name: os.environ[name] for name in OFFLINE_VARIABLES if name in os.environ}
    log.info("job: offline=%s threads=%s hub variables=%s synthpedia=%s", offline, threads, hub, synthpedia.__file__)


def set_torch_threads(threads: int) -> None:
    """Cap torch's intra-op pool at `threads` and its inter-op pool at one."""
    import torch

    torch.set_num_threads(threads)
    with contextlib.suppress(RuntimeError):  # already set, or parallel work already ran in this process
        torch.set_num_interop_threads(1)

"""prepare_job: a job's thread budget reaches every pool (BLAS, OpenMP, torch), and hub access follows the config."""

import json
import os
import subprocess
import sys
import textwrap

import pytest

from conftest import ROOT

PROBE = textwrap.dedent(
    """
    import json, os, sys
    sys.path.insert(0, {src!r})
    from synthpedia.runtime import prepare_job
    prepare_job(offline={offline}, threads={threads})
    import numpy, threadpoolctl, torch
    numpy.ones((64, 64)) @ numpy.ones((64, 64))
    pools = {{info["user_api"]: info["num_threads"] for info in threadpoolctl.threadpool_info()}}
    hub = {{k: os.environ.get(k) for k in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE")}}
    print(json.dumps({{"torch": torch.get_num_threads(), "pools": pools, "hub": hub}}))
    """
)


def probe(threads: int, offline: bool) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "TRANSFORMERS_", "OMP_", "MKL_", "OPENBLAS_NUM"))}
    code = PROBE.format(src=str(ROOT / "src"), offline=offline, threads=threads)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


@pytest.mark.parametrize("threads", [1, 2])
def test_every_thread_pool_of_a_job_gets_the_jobs_threads(threads):
    found = probe(threads, offline=True)
    assert found["torch"] == threads
    assert found["pools"] and set(found["pools"].values()) == {threads}, found["pools"]


def test_offline_follows_the_config_and_nothing_is_set_when_online():
    assert set(probe(1, offline=True)["hub"].values()) == {"1"}
    assert set(probe(1, offline=False)["hub"].values()) == {None}

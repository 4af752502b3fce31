"""Killed generation jobs resume exactly, with real backends in real processes.

A job (a subprocess running generate_job on 8 prompts) is killed with SIGKILL or SIGTERM at a
random point, then run again. After the rerun every prompt has exactly one row (a generation or a
failure record), the ledger holds each request once (a re-sent request would be appended again),
llama.cpp jobs (worker processes, or sequences batched in one context) write the texts of an
uninterrupted run, and, behind the OpenAI-compatible server, a counting proxy shows that no
finished request was sent again. The server is also stopped and restarted in the middle of a shard: retries with
backoff carry the job over.
"""

from __future__ import annotations

import copy
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest
from conftest import ROOT
from llm_server import CountingProxy, LlamaServer

from synthpedia.generate import request_key
from synthpedia.tables import PROMPT_COLUMNS

pytestmark = pytest.mark.e2e

N_PROMPTS = 8
TRIALS = 5
TOPICS = ["volcanoes", "fractions", "bees", "magnets", "the moon", "rivers", "bread", "bicycles"]
RUNNER = (
    "import json, sys\n"
    "from synthpedia.logs import log_to\n"
    "from synthpedia.generate import generate_job\n"
    "args = json.loads(sys.argv[1])\n"
    "log_to(args.pop('log'))\n"
    "generate_job(**args)\n"
)


@pytest.fixture(scope="module")
def prompts_path(tmp_path_factory) -> Path:
    rows = [
        {c: f"{c}-{i}" for c in PROMPT_COLUMNS}
        | {"prompt_id": f"p{i:03d}", "prompt": f"Write two sentences for children about {topic}."}
        for i, topic in enumerate(TOPICS[:N_PROMPTS])
    ]
    path = tmp_path_factory.mktemp("prompts") / "000.parquet"
    pl.DataFrame(rows).write_parquet(path)
    return path


def all_prompts(prompts_path: Path) -> set[str]:
    return set(pl.read_parquet(prompts_path)["prompt"])


def generation_section(default_config: dict, backend: str, **options) -> dict:
    generation = copy.deepcopy(default_config["generation"])
    generation["backend"] = backend
    generation["sampling"]["max_tokens"] = 12
    generation["min_completion_tokens"] = 4
    generation[backend].update(options)
    return generation


class Job:
    """One generation job in its own process (and process group), as Snakemake would run it."""

    def __init__(self, workdir: Path, prompts_path: Path, generation: dict, threads: int = 2):
        workdir.mkdir(parents=True, exist_ok=True)
        self.workdir = workdir
        self.ledger = workdir / "ledger.jsonl"
        self.args = {
            "prompts_path": str(prompts_path),
            "generations_path": str(workdir / "000.parquet"),
            "failed_path": str(workdir / "000.failed.parquet"),
            "stats_path": str(workdir / "000.stats.json"),
            "ledger_path": str(self.ledger),
            "generation": generation,
            "seed": 42,
            "threads": threads,
            "gpus": 0,
            "answer_schema": None,
            "log": str(workdir / "job.log"),
        }

    def start(self) -> subprocess.Popen:
        env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
        return subprocess.Popen([sys.executable, "-c", RUNNER, json.dumps(self.args)], env=env,
                                start_new_session=True)

    def run(self, timeout: float = 120) -> None:
        proc = self.start()
        if proc.wait(timeout) != 0:
            raise AssertionError(f"job failed ({proc.returncode}):\n{Path(self.args['log']).read_text()[-3000:]}")

    def ledger_lines(self) -> list[str]:
        return self.ledger.read_text().splitlines(keepends=True) if self.ledger.exists() else []

    def finished_keys(self) -> list[str]:
        """Keys of the complete ledger records (a torn last line is not one)."""
        return [json.loads(line)["key"] for line in self.ledger_lines() if line.endswith("\n")]

    def stats(self) -> dict:
        return json.loads(Path(self.args["stats_path"]).read_text())

    def rows(self) -> pl.DataFrame:
        gens = pl.read_parquet(self.args["generations_path"])
        failed = pl.read_parquet(self.args["failed_path"])
        return pl.concat([gens.select("prompt_id", "prompt", "request_key", "completion"),
                          failed.select("prompt_id", "prompt", "request_key", "completion")])


def workers_of(pid: int) -> list[int]:
    """llamacpp worker processes started by process `pid` that are still alive."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if b"llamacpp_worker" in cmdline and f'"parent": {pid}'.encode() in cmdline:
                found.append(int(entry.name))
    return found


def kill_at_random_point(job: Job, rng: random.Random) -> tuple[int, bool]:
    """Start the job, kill it after a random number of finished requests plus a random delay.

    Returns (the finished requests when it was killed, whether it was killed before finishing).
    """
    wait_for = rng.randint(0, N_PROMPTS - 2)
    proc = job.start()
    deadline = time.monotonic() + 120
    while proc.poll() is None and len(job.ledger_lines()) < wait_for and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(rng.uniform(0, 0.4))
    killed = proc.poll() is None
    if killed:
        os.kill(proc.pid, rng.choice([signal.SIGKILL, signal.SIGTERM]))
    proc.wait(30)
    # The job's worker processes die with it (no process group kill needed).
    deadline = time.monotonic() + 5
    while workers_of(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert workers_of(proc.pid) == [], "llamacpp workers outlived their killed job"
    return len(job.finished_keys()), killed


def killed_trials(tmp_path: Path, prompts_path: Path, generation: dict, rng: random.Random):
    """TRIALS jobs, each killed at a random point: yields (job, requests finished when it was killed).

    Once every trial has been handed out, checks that most of them really were cut short.
    """
    kills = []
    for trial in range(TRIALS):
        job = Job(tmp_path / f"trial{trial}", prompts_path, generation)
        finished, killed = kill_at_random_point(job, rng)
        kills.append((finished, killed))
        yield job, finished
    assert sum(killed for _, killed in kills) >= 3, kills
    assert any(0 < finished < N_PROMPTS for finished, _ in kills), kills


def assert_every_prompt_once(job: Job, prompts_path: Path) -> None:
    rows = job.rows()
    assert rows.height == N_PROMPTS and rows["prompt_id"].n_unique() == N_PROMPTS
    assert set(rows["prompt"]) == all_prompts(prompts_path)
    keys = job.finished_keys()
    assert len(keys) == len(set(keys)) == N_PROMPTS, "a request was recorded twice: it was sent again"
    assert set(keys) == set(rows["request_key"])


@pytest.mark.parametrize("settings", [{"workers": 2}, {"parallel_sequences": 3}], ids=["workers", "batched"])
def test_killed_llamacpp_jobs_resume_exactly(tmp_path, prompts_path, default_config, settings):
    pytest.importorskip("llama_cpp")
    generation = generation_section(default_config, "llamacpp", **settings)
    reference = Job(tmp_path / "reference", prompts_path, generation)
    reference.run()
    expected = dict(reference.rows().select("prompt_id", "completion").iter_rows())

    for job, finished in killed_trials(tmp_path, prompts_path, generation, random.Random(20240611)):
        job.run()
        assert_every_prompt_once(job, prompts_path)
        stats = job.stats()
        assert stats["resumed"] == finished and stats["sent"] == N_PROMPTS - finished
        # Nothing lost or garbled: the resumed shard holds the uninterrupted run's texts.
        assert dict(job.rows().select("prompt_id", "completion").iter_rows()) == expected


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    pytest.importorskip("llama_cpp.server.app")
    srv = LlamaServer(tmp_path_factory.mktemp("server") / "server.log")
    srv.start()
    proxy = CountingProxy(srv.url)
    yield srv, proxy
    proxy.stop()
    srv.stop()


def openai_section(default_config, proxy, **options):
    return generation_section(default_config, "openai", base_url=proxy.base_url, concurrency=2, retries=6,
                              backoff_seconds=0.5, timeout_seconds=120,
                              extra_sampling_names={"repetition_penalty": "repeat_penalty"}, **options)


def test_killed_openai_jobs_never_resend_finished_requests(tmp_path, prompts_path, default_config, server):
    _, proxy = server
    generation = openai_section(default_config, proxy)
    prompt_of = {request_key(p, generation["model"], generation["sampling"], 42): p for p in all_prompts(prompts_path)}
    for job, _ in killed_trials(tmp_path, prompts_path, generation, random.Random(7)):
        finished_prompts = {prompt_of[key] for key in job.finished_keys()}
        before = len(proxy.chat_prompts())
        job.run()
        resent = proxy.chat_prompts()[before:]
        assert not finished_prompts & set(resent), "a finished request was sent again"
        assert sorted(resent) == sorted(all_prompts(prompts_path) - finished_prompts)  # each missing one, once
        assert_every_prompt_once(job, prompts_path)


def test_server_restart_mid_shard_is_carried_over_by_retries(tmp_path, prompts_path, default_config):
    pytest.importorskip("llama_cpp.server.app")
    srv = LlamaServer(tmp_path / "server.log")
    srv.start()
    proxy = CountingProxy(srv.url)
    try:
        job = Job(tmp_path / "job", prompts_path, openai_section(default_config, proxy))
        proc = job.start()
        deadline = time.monotonic() + 120
        while len(job.ledger_lines()) < 2 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        srv.stop()
        finished_at_stop = set(job.finished_keys())
        assert len(finished_at_stop) < N_PROMPTS, "the job finished before the server went down"
        time.sleep(2.0)  # requests fail meanwhile (502 from the proxy): retried with backoff
        srv.start()
        assert proc.wait(180) == 0, Path(job.args["log"]).read_text()[-3000:]
        assert_every_prompt_once(job, prompts_path)
        stats = job.stats()
        assert stats["retried"] >= 1 and stats["sent"] == N_PROMPTS
        log = Path(job.args["log"]).read_text()
        assert "retry 1/6" in log
    finally:
        proxy.stop()
        srv.stop()

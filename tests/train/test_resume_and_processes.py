"""Resumable and data-parallel torch runs: a killed run continues its loss curve; 2 processes match 1.

Tolerances: on one machine a resumed run and an uninterrupted one compute the
same floating-point operations in the same order, and so do 2 gloo processes
and 1 process at the same global batch (DDP's average of two gradients equals
the sum of two half gradients exactly, since halving is exact). The tests
still allow LOSS_TOL (1e-6, absolute) on each step's loss, so that a BLAS that
splits work by thread count cannot fail them on rounding alone.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from train_kit import ROOT, TINY, make_corpus

from synthpedia.errors import InputError
from synthpedia.train import MixtureSampler, grad_accum_for, train_job, train_torch
from synthpedia.train import loop as loop_module

LOSS_TOL = 1e-6
WEIGHTS = {"stories": 1.0, "textbooks": 3.0}
# 16 steps, a state every 3 steps, one progress line per step; 2 micro-batches of 4 windows per step.
RUN = {**TINY, "steps": 16, "checkpoint_interval": 3, "log_interval": 1, "batch_tokens": 2 * 4 * 64}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return make_corpus(tmp_path_factory.mktemp("corpus"))


@pytest.fixture(scope="module")
def reference(corpus, tmp_path_factory):
    """The uninterrupted run: its loss table and checkpoint."""
    out = tmp_path_factory.mktemp("reference")
    losses = train_torch(corpus["dirs"], WEIGHTS, corpus["tokenizer"], str(out / "ckpt"), RUN, seed=5, threads=1)
    return {"losses": losses, "ckpt": out / "ckpt"}


def assert_same_curve(losses, reference) -> None:
    assert losses["step"].to_list() == list(range(1, RUN["steps"] + 1))  # each step once
    assert losses["tokens"].to_list() == reference["tokens"].to_list()
    assert losses["lr"].to_list() == reference["lr"].to_list()
    np.testing.assert_allclose(losses["loss"].to_numpy(), reference["loss"].to_numpy(), rtol=0, atol=LOSS_TOL)


def assert_same_weights(ckpt: Path, reference: Path) -> None:
    from safetensors.numpy import load_file

    got, want = load_file(ckpt / "model.safetensors"), load_file(reference / "model.safetensors")
    assert sorted(got) == sorted(want)
    for name in want:
        np.testing.assert_allclose(got[name], want[name], rtol=0, atol=1e-6, err_msg=name)


def test_step_batches_depend_on_seed_and_step_only_and_split_into_rows(corpus):
    a = MixtureSampler(corpus["dirs"], WEIGHTS, 64, seed=5)
    b = MixtureSampler(corpus["dirs"], WEIGHTS, 64, seed=5)
    b.batch(7)  # draws from the sequential stream do not move the step batches
    whole, sources = a.step_batch(3, 8)
    assert (b.step_batch(3, 8)[0] == whole).all()
    halves = [a.step_batch(3, 8, slice(i, i + 4)) for i in (0, 4)]
    assert (np.concatenate([h[0].numpy() for h in halves]) == whole.numpy()).all()
    assert halves[0][1] + halves[1][1] == sources
    assert not (a.step_batch(4, 8)[0] == whole).all()


def test_global_batch_in_tokens_sets_the_accumulation_per_process():
    params = {**TINY, "micro_batch": 4, "seq_len": 64, "batch_tokens": 1024}
    assert grad_accum_for(params, 1) == 4
    assert grad_accum_for(params, 2) == 2
    assert grad_accum_for(params, 4) == 1
    with pytest.raises(InputError, match="batch_tokens"):
        grad_accum_for(params, 3)
    assert grad_accum_for({**params, "batch_tokens": None, "grad_accum": 3}, 2) == 3


def test_a_run_stopped_after_a_state_resumes_where_it_stopped(corpus, reference, tmp_path, monkeypatch, caplog):
    """In-process stand-in for a kill: the run dies right after writing the state of step 9."""
    state_dir = tmp_path / "state"
    saved = loop_module.save_state

    def save_then_die(folder, state):
        saved(folder, state)
        if state["steps"] == 9:
            raise KeyboardInterrupt

    monkeypatch.setattr(loop_module, "save_state", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        train_torch(corpus["dirs"], WEIGHTS, corpus["tokenizer"], str(tmp_path / "ckpt"), RUN, seed=5, threads=1,
                    state_dir=str(state_dir))
    assert [p.name for p in state_dir.iterdir()] == ["step-00000009"]  # older states removed
    assert not (tmp_path / "ckpt").exists()
    monkeypatch.setattr(loop_module, "save_state", saved)
    caplog.set_level("INFO")
    losses = train_torch(corpus["dirs"], WEIGHTS, corpus["tokenizer"], str(tmp_path / "ckpt"), RUN, seed=5, threads=1,
                         state_dir=str(state_dir))
    assert_same_curve(losses, reference["losses"])
    assert_same_weights(tmp_path / "ckpt", reference["ckpt"])
    meta = json.loads((tmp_path / "ckpt" / "synthpedia_train.json").read_text())
    assert meta["resumed_at_step"] == 9 and meta["tokens"] == RUN["steps"] * RUN["batch_tokens"]
    assert not state_dir.exists()  # the checkpoint is written: nothing left to resume
    progress = [r.getMessage() for r in caplog.records if r.getMessage().startswith("step ")]
    assert progress[0].startswith("step 10/16 (62%) loss ")  # the first step after the resumed state
    assert "tokens/s" in progress[0] and "ETA" in progress[0] and len(progress) == 7


def test_a_state_of_another_run_is_not_resumed(corpus, reference, tmp_path, monkeypatch):
    state_dir = tmp_path / "state"
    saved = loop_module.save_state

    def save_then_die(folder, state):
        saved(folder, state)
        raise KeyboardInterrupt

    monkeypatch.setattr(loop_module, "save_state", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        train_torch(corpus["dirs"], WEIGHTS, corpus["tokenizer"], str(tmp_path / "a"), {**RUN, "lr": 1e-3},
                    seed=5, threads=1, state_dir=str(state_dir))
    (state_dir / ".step-00000006.x.tmp").mkdir()  # what a writer killed mid-write leaves
    monkeypatch.setattr(loop_module, "save_state", saved)
    losses = train_torch(corpus["dirs"], WEIGHTS, corpus["tokenizer"], str(tmp_path / "b"), RUN, seed=5, threads=1, state_dir=str(state_dir))
    assert_same_curve(losses, reference["losses"])
    assert json.loads((tmp_path / "b" / "synthpedia_train.json").read_text())["resumed_at_step"] == 0


WORKER = """
import sys
from synthpedia.logs import log_to
from synthpedia.train import train_torch
import json
log_to(None)
a = json.loads(sys.argv[1])
train_torch(a["dirs"], a["weights"], a["tokenizer"], a["out"], a["params"], seed=5, threads=1, state_dir=a["state"])
"""


@pytest.mark.e2e
def test_runs_killed_at_random_steps_resume_to_the_uninterrupted_curve(corpus, reference, tmp_path):
    """SIGKILL a training process at a random step (3 trials), rerun: the same losses and weights, no step twice."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": "1"}
    rng = random.Random(20261201)
    for trial in range(3):
        kill_at = rng.randint(4, RUN["steps"] - 2)
        out, state = tmp_path / f"ckpt{trial}", tmp_path / f"state{trial}"
        args = {"dirs": corpus["dirs"], "weights": WEIGHTS, "tokenizer": corpus["tokenizer"], "out": str(out),
                "params": RUN, "state": str(state)}
        proc = subprocess.Popen([sys.executable, "-c", WORKER, json.dumps(args)], env=env, cwd=ROOT,
                                stderr=subprocess.PIPE, text=True)
        for line in proc.stderr:
            if f" step {kill_at}/" in line:
                os.kill(proc.pid, signal.SIGKILL)
                break
        proc.wait()
        proc.stderr.close()
        assert proc.returncode == -signal.SIGKILL, f"trial {trial}: the run ended before step {kill_at}"
        assert not out.exists()
        kept = [p.name for p in state.iterdir() if not p.name.startswith(".")]
        assert len(kept) == 1 and int(kept[0].split("-")[1]) % RUN["checkpoint_interval"] == 0
        losses = train_torch(corpus["dirs"], WEIGHTS, corpus["tokenizer"], str(out), RUN, seed=5, threads=1, state_dir=str(state))
        assert_same_curve(losses, reference["losses"])
        assert_same_weights(out, reference["ckpt"])
        resumed = json.loads((out / "synthpedia_train.json").read_text())["resumed_at_step"]
        assert resumed >= kill_at - RUN["checkpoint_interval"] and resumed % RUN["checkpoint_interval"] == 0


@pytest.mark.e2e
def test_two_gloo_processes_match_one_at_the_same_global_batch(corpus, reference, tmp_path):
    """torchrun, 2 CPU processes of 1 micro-batch each vs 1 process of 2 micro-batches: one loss curve."""
    log = tmp_path / "train.log"
    loss = train_job(
        token_dirs=corpus["dirs"], tokenizer_json=corpus["tokenizer"], mixture=WEIGHTS,
        run={"backend": "torch", "params": {**RUN, "processes": 2}}, seed=5,
        checkpoint_dir=str(tmp_path / "ckpt"), loss_csv=str(tmp_path / "loss.csv"), threads=2,
        config_hash="h", state_dir=str(tmp_path / "state"), log_file=str(log),
    )
    assert_same_curve(loss, reference["losses"])
    assert_same_weights(tmp_path / "ckpt", reference["ckpt"])
    meta = json.loads((tmp_path / "ckpt" / "synthpedia_train.json").read_text())
    assert (meta["processes"], meta["grad_accum"], meta["threads"]) == (2, 1, 1)
    text = log.read_text()
    assert "process 0 of 2" in text and "step 16/16" in text

"""Training: a tiny Llama learns from datatrove token folders, reproducibly, and reloads offline."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jsonschema
import numpy as np
import polars as pl
import pytest
import yaml

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"

from train_kit import COSMO_1B, ROOT, SCHEMA, TINY, make_corpus

from synthpedia.errors import InputError
from synthpedia.tables import TABLES
from synthpedia.tokens import EOS_TOKEN
from synthpedia.train import (
    MixtureSampler,
    check_train_params,
    choose_precision,
    cpu_has_native_bf16,
    lr_at,
    nanotron_config,
    tokens_per_step,
    train_job,
    train_torch,
)
from synthpedia.train import precision as precision_module


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return make_corpus(tmp_path_factory.mktemp("corpus"))


@pytest.fixture(scope="module")
def trained(corpus, tmp_path_factory):
    import torch

    out = tmp_path_factory.mktemp("runs")
    weights = {"stories": 1.0, "textbooks": 3.0}
    threads_before = torch.get_num_threads()
    first = train_torch(corpus["dirs"], weights, corpus["tokenizer"], str(out / "a"), TINY, seed=7, threads=1)
    again = train_torch(corpus["dirs"], weights, corpus["tokenizer"], str(out / "b"), TINY, seed=7, threads=1)
    return {"losses": first, "again": again, "ckpt": out / "a", "out": out, "weights": weights,
            "threads": (threads_before, torch.get_num_threads())}


def test_loss_falls_and_table_has_one_row_per_step(trained):
    losses = trained["losses"]
    assert tuple(losses.columns) == tuple(TABLES["loss"])
    assert losses["step"].to_list() == list(range(1, TINY["steps"] + 1))
    tokens_per = TINY["micro_batch"] * TINY["grad_accum"] * TINY["seq_len"]
    assert losses["tokens"].to_list() == [tokens_per * s for s in range(1, TINY["steps"] + 1)]
    loss = losses["loss"].to_list()
    # starts near ln(vocab) and falls by a clear margin within 20 steps
    assert loss[0] > 5.0
    assert np.mean(loss[-3:]) < loss[0] - 1.0
    assert losses["seconds"].is_sorted() and losses["seconds"][-1] > 0


def test_lr_schedule_warms_up_then_decays_to_min(trained):
    lr = trained["losses"]["lr"].to_list()
    w = TINY["warmup_steps"]
    assert lr[:w] == pytest.approx([TINY["lr"] * (i + 1) / w for i in range(w)])
    assert max(lr) == pytest.approx(TINY["lr"])
    assert all(a >= b for a, b in zip(lr[w - 1 :], lr[w:]))  # monotone decay after warmup
    p = TINY
    assert lr_at(p["steps"], p) == pytest.approx(p["min_lr"])  # cosine ends at min_lr
    mid = w + (p["steps"] - w) // 2
    assert lr_at(mid, p) == pytest.approx((p["lr"] + p["min_lr"]) / 2)


def test_same_seed_gives_the_same_loss_curve_and_weights(trained):
    assert trained["losses"]["loss"].to_list() == trained["again"]["loss"].to_list()
    a = (trained["out"] / "a" / "model.safetensors").read_bytes()
    b = (trained["out"] / "b" / "model.safetensors").read_bytes()
    assert a == b


def test_other_seed_gives_another_curve(corpus, trained, tmp_path):
    other = train_torch(
        corpus["dirs"], trained["weights"], corpus["tokenizer"], str(tmp_path / "c"), {**TINY, "steps": 3}, seed=8
    )
    assert other["loss"].to_list() != trained["losses"]["loss"].to_list()[:3]


def test_checkpoint_reloads_offline_and_generates(trained):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    ckpt = trained["ckpt"]
    assert {"config.json", "model.safetensors", "tokenizer.json", "synthpedia_train.json"} <= {
        p.name for p in ckpt.iterdir()
    }
    # nothing half-written left beside it
    assert sorted(p.name for p in trained["out"].iterdir()) == ["a", "b"]

    model = AutoModelForCausalLM.from_pretrained(ckpt, local_files_only=True)
    tok = AutoTokenizer.from_pretrained(ckpt, local_files_only=True)
    cfg = model.config
    assert (cfg.num_hidden_layers, cfg.hidden_size, cfg.intermediate_size) == (2, 64, 172)
    assert (cfg.num_attention_heads, cfg.num_key_value_heads, cfg.max_position_embeddings) == (2, 1, 64)
    assert cfg.tie_word_embeddings is False
    assert cfg.rope_parameters["rope_theta"] == 50000.0
    assert cfg.vocab_size == len(tok)
    assert tok.eos_token == tok.bos_token == tok.pad_token == EOS_TOKEN
    assert cfg.eos_token_id == tok.eos_token_id
    assert not torch.equal(model.get_input_embeddings().weight, model.get_output_embeddings().weight)

    enc = tok("Story: The cat", return_tensors="pt")
    with torch.no_grad():
        out = model.generate(**enc, max_new_tokens=6, do_sample=False, pad_token_id=tok.pad_token_id)
    assert out.shape[1] > enc["input_ids"].shape[1]
    assert isinstance(tok.decode(out[0], skip_special_tokens=True), str)

    meta = json.loads((ckpt / "synthpedia_train.json").read_text())
    assert meta["seed"] == 7 and meta["tokens"] == trained["losses"]["tokens"][-1]
    assert meta["final_loss"] == pytest.approx(trained["losses"]["loss"][-1])


def test_retraining_replaces_the_checkpoint(corpus, tmp_path):
    out = tmp_path / "ckpt"
    small = {**TINY, "steps": 2}
    train_torch(corpus["dirs"], {"stories": 1, "textbooks": 1}, corpus["tokenizer"], str(out), small, seed=1)
    first = (out / "model.safetensors").read_bytes()
    train_torch(corpus["dirs"], {"stories": 1, "textbooks": 1}, corpus["tokenizer"], str(out), small, seed=2)
    assert (out / "model.safetensors").read_bytes() != first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]


def test_mixture_weights_decide_where_windows_come_from(corpus):
    sampler = MixtureSampler(corpus["dirs"], {"stories": 1, "textbooks": 3}, seq_len=32, seed=0)
    batch, sources = sampler.batch(4000)
    assert batch.shape == (4000, 33)
    share = sources.count("textbooks") / len(sources)
    assert share == pytest.approx(0.75, abs=0.03)
    # same seed, same draws
    again = MixtureSampler(corpus["dirs"], {"stories": 1, "textbooks": 3}, seq_len=32, seed=0)
    assert again.batch(50)[1] == sources[:50]
    # a zero weight leaves the source out entirely
    only = MixtureSampler(corpus["dirs"], {"stories": 0, "textbooks": 1}, seq_len=32, seed=0)
    assert set(only.batch(200)[1]) == {"textbooks"}


def test_bad_mixture_or_params_name_the_culprit(corpus, tmp_path):
    with pytest.raises(InputError, match="textbooks"):
        MixtureSampler(corpus["dirs"], {"stories": 1}, seq_len=32, seed=0)
    with pytest.raises(InputError, match="fewer than seq_len"):
        MixtureSampler(corpus["dirs"], {"stories": 1, "textbooks": 1}, seq_len=10**7, seed=0)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError, match="no .ds token files"):
        MixtureSampler({"web": str(empty)}, {"web": 1}, seq_len=32, seed=0)
    # Beside a source with data, an empty one (e.g. no web topic kept) is left out, not fatal.
    mixed = MixtureSampler({**corpus["dirs"], "web": str(empty)}, {"stories": 1, "textbooks": 1, "web": 5},
                           seq_len=32, seed=0)
    assert "web" not in set(mixed.batch(100)[1])



def test_params_are_checked_by_the_schema_then_by_their_relations():
    run_schema = {"$ref": "#/definitions/train_run", "definitions": SCHEMA["definitions"]}
    jsonschema.validate({"backend": "torch", "params": TINY}, run_schema)
    with pytest.raises(jsonschema.ValidationError, match="layerz"):
        jsonschema.validate({"params": {"layerz": 3}}, run_schema)
    with pytest.raises(jsonschema.ValidationError, match="'fp16' is not one of"):
        jsonschema.validate({"params": {"precision": "fp16"}}, run_schema)
    assert check_train_params(TINY) is TINY
    with pytest.raises(InputError, match="hidden .* heads"):
        check_train_params({**TINY, "hidden": 100, "heads": 3})
    with pytest.raises(InputError, match="kv_heads"):
        check_train_params({**TINY, "heads": 4, "kv_heads": 3})
    with pytest.raises(InputError, match="min_lr"):
        check_train_params({**TINY, "min_lr": 1.0})
    with pytest.raises(InputError, match="missing key"):
        check_train_params({"layers": 2})


def test_the_config_check_imports_nothing_heavy_and_nothing_sets_the_environment():
    code = (
        "import os, sys\n"
        "import synthpedia.train.params\n"
        "heavy = sorted({'torch', 'transformers', 'polars', 'numpy'} & set(sys.modules))\n"
        "assert not heavy, heavy\n"
        "import synthpedia.train.loop, synthpedia.train.nanotron, synthpedia.tokens\n"
        "assert 'HF_HUB_OFFLINE' not in os.environ and 'HF_DATASETS_OFFLINE' not in os.environ\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "TRANSFORMERS_"))}
    env["PYTHONPATH"] = str(ROOT / "src")
    subprocess.run([sys.executable, "-c", code], check=True, env=env, cwd=ROOT)


def test_one_thread_trains_on_one_intra_op_thread_and_the_checkpoint_records_it(trained):
    meta = json.loads((trained["ckpt"] / "synthpedia_train.json").read_text())
    assert meta["threads"] == 1  # torch.get_num_threads() inside the loop
    before, after = trained["threads"]
    assert after == before  # the process's own setting is back afterwards


def test_auto_precision_follows_the_hardware_and_an_explicit_setting_wins(trained, monkeypatch):
    meta = json.loads((trained["ckpt"] / "synthpedia_train.json").read_text())
    assert meta["precision"] == ("bf16" if cpu_has_native_bf16() else "fp32")
    assert meta["params"]["precision"] == "auto"
    flags = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    if " avx2" in flags:  # x86: native bf16 is AVX512-BF16 or AMX
        assert cpu_has_native_bf16() == any(f in flags for f in (" avx512_bf16", " amx_bf16", " amx_tile"))
    for native, expected in ((True, "bf16"), (False, "fp32")):
        monkeypatch.setattr(precision_module, "cpu_has_native_bf16", lambda native=native: native)
        monkeypatch.setattr(precision_module, "gpu_has_bf16", lambda native=native: native)
        assert choose_precision("auto", "cpu") == expected
        assert choose_precision("auto", "cuda:0") == expected
        assert choose_precision("fp32", "cuda") == "fp32" and choose_precision("bf16", "cpu") == "bf16"
    assert choose_precision("auto", "mps") == "fp32"
    with pytest.raises(ValueError, match="fp16"):
        choose_precision("fp16", "cpu")


def test_train_job_writes_the_stamped_loss_table(corpus, tmp_path):
    job = {
        "token_dirs": corpus["dirs"],
        "mixture": {"stories": 2.0},
        "tokenizer_json": corpus["tokenizer"],
        "checkpoint_dir": str(tmp_path / "ckpt"),
        "loss_csv": str(tmp_path / "loss_tiny.csv"),
        "run": {"backend": "torch", "params": {**TINY, "steps": 2}},
        "seed": 3,
        "threads": 1,
        "config_hash": "abc123",
    }
    returned = train_job(**job)
    written = pl.read_csv(job["loss_csv"])
    assert written.columns == [*TABLES["loss"], "config_hash", "version"]
    assert written["step"].to_list() == [1, 2] and set(written["config_hash"]) == {"abc123"}
    assert returned["loss"].to_list() == pytest.approx(written["loss"].to_list())
    meta = json.loads((tmp_path / "ckpt" / "synthpedia_train.json").read_text())
    assert meta["weights"] == {"stories": 2.0, "textbooks": 1.0}  # absent from the mixture: 1.0
    with pytest.raises(InputError, match="torch only"):
        train_job(**{**job, "run": {"backend": "nanotron", "params": TINY}})


def test_nanotron_yaml_matches_cosmo_1b(tmp_path):
    data = {
        "token_dirs": {"web": "/data/tokens/web", "stories": "/data/tokens/stories"},
        "weights": {"web": 20.0, "stories": 5.1},
        "tokenizer": "mistralai/Mistral-7B-v0.1",
        "vocab_size": 32000,
        "run": "cosmo-1b",
    }
    returned = nanotron_config(COSMO_1B, data, str(tmp_path))
    written = yaml.safe_load((tmp_path / "nanotron.yaml").read_text())
    assert written == returned

    mc = written["model"]["model_config"]
    assert mc["is_llama_config"] is True
    assert (mc["num_hidden_layers"], mc["hidden_size"], mc["intermediate_size"]) == (24, 2048, 8192)
    assert (mc["num_attention_heads"], mc["num_key_value_heads"]) == (16, 16)
    assert (mc["vocab_size"], mc["max_position_embeddings"]) == (32000, 2048)
    assert mc["tie_word_embeddings"] is False
    assert (mc["bos_token_id"], mc["eos_token_id"]) == (1, 2)
    assert written["model"]["dtype"] == "bfloat16"

    opt = written["optimizer"]
    assert opt["optimizer_factory"] == {
        "name": "adamW",
        "adam_beta1": 0.9,
        "adam_beta2": 0.95,
        "adam_eps": 1e-8,
        "torch_adam_is_fused": True,
    }
    assert (opt["weight_decay"], opt["clip_grad"]) == (0.01, 1.0)
    sched = opt["learning_rate_scheduler"]
    assert (sched["learning_rate"], sched["min_decay_lr"], sched["lr_warmup_steps"]) == (3e-4, 3e-5, 2000)
    assert (sched["lr_warmup_style"], sched["lr_decay_style"]) == ("linear", "cosine")

    tokens = written["tokens"]
    assert (tokens["sequence_length"], tokens["micro_batch_size"], tokens["train_steps"]) == (2048, 4, 140000)
    assert tokens["batch_accumulation_per_replica"] == 1
    assert written["parallelism"]["dp"] == 160
    assert tokens_per_step(COSMO_1B) == 4 * 160 * 2048  # about 1.3M tokens per step

    stage = written["data_stages"][0]
    assert stage["start_training_step"] == 1
    assert stage["data"]["dataset"] == {
        "dataset_folder": ["/data/tokens/stories", "/data/tokens/web"],
        "dataset_weights": [5.1, 20.0],
    }
    assert written["tokenizer"]["tokenizer_name_or_path"] == "mistralai/Mistral-7B-v0.1"


def test_nanotron_yaml_reads_ids_from_a_local_tokenizer(corpus, tmp_path):
    data = {"token_dirs": corpus["dirs"], "weights": {"stories": 1, "textbooks": 1}, "tokenizer": corpus["tokenizer"]}
    cfg = nanotron_config(TINY, data, str(tmp_path))
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(corpus["tokenizer"])
    mc = cfg["model"]["model_config"]
    assert mc["vocab_size"] == tok.get_vocab_size()
    assert mc["eos_token_id"] == mc["bos_token_id"] == tok.token_to_id(EOS_TOKEN)
    # written where the run is planned, for GPUs: auto is bf16, an explicit fp32 stays fp32
    assert cfg["model"]["dtype"] == "bfloat16"
    assert nanotron_config({**TINY, "precision": "fp32"}, data, str(tmp_path))["model"]["dtype"] == "float32"
    with pytest.raises(InputError, match="vocab_size"):
        nanotron_config(TINY, {**data, "tokenizer": "some/hub-name"}, str(tmp_path))

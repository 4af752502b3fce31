"""nanotron runs: the cosmo-1b YAML loads with nanotron's own config classes; checkpoints convert to transformers.

nanotron is never installed beside lighteval (it breaks lighteval's imports):
this test skips unless nanotron is importable, i.e. when run from an
environment made for it (envs/nanotron.yaml, at the commit pinned there).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from train_kit import COSMO_1B, make_docs, train_bpe, write_token_folder

from synthpedia.train import nanotron_config
from synthpedia.train.nanotron_hf import latest_nanotron_step, nanotron_to_hf


def test_cosmo_1b_yaml_loads_with_nanotron_config_classes(tmp_path):
    config_module = pytest.importorskip("nanotron.config", reason="nanotron is not installed in this environment")
    # Token folders as datatrove writes them; their metadata names a tokenizer transformers loads (a folder).
    tok = train_bpe(make_docs(50, 1, "Story"), tmp_path / "tokenizer.json")
    from transformers import PreTrainedTokenizerFast

    PreTrainedTokenizerFast(tokenizer_file=str(tmp_path / "tokenizer.json"), eos_token="<|endoftext|>").save_pretrained(
        tmp_path / "tokenizer"
    )
    dirs = {}
    for source in ("web", "stories"):
        write_token_folder(tok, make_docs(20, 2, source), tmp_path / "tokens" / source)
        meta = tmp_path / "tokens" / source / "00000_tokens.ds.metadata"
        meta.write_text(meta.read_text().replace("tokenizer.json|", f"{tmp_path / 'tokenizer'}|", 1))
        dirs[source] = str(tmp_path / "tokens" / source)
    data = {"token_dirs": dirs, "weights": {"web": 20.0, "stories": 5.1}, "tokenizer": str(tmp_path / "tokenizer"),
            "run": "cosmo-1b", "checkpoints_path": str(tmp_path / "checkpoints")}
    nanotron_config(COSMO_1B, data, str(tmp_path))

    loaded = config_module.get_config_from_file(str(tmp_path / "nanotron.yaml"))
    model = loaded.model.model_config
    assert (model.num_hidden_layers, model.hidden_size, model.intermediate_size) == (24, 2048, 8192)
    assert (model.num_attention_heads, model.num_key_value_heads, model.tie_word_embeddings) == (16, 16, False)
    assert loaded.tokens.sequence_length == 2048
    assert loaded.parallelism.dp * loaded.tokens.micro_batch_size * loaded.tokens.batch_accumulation_per_replica \
        * loaded.tokens.sequence_length == 160 * 4 * 2048  # ~1.3M tokens per step
    sched = loaded.optimizer.learning_rate_scheduler
    assert (sched.learning_rate, sched.lr_warmup_steps, sched.min_decay_lr) == (3e-4, 2000, 3e-5)
    dataset = loaded.data_stages[0].data.dataset
    assert dataset.dataset_folder == [dirs["stories"], dirs["web"]] and dataset.dataset_weights == [5.1, 20.0]
    assert dataset.tokenizer_name == str(tmp_path / "tokenizer") and dataset.token_size_in_bytes == 2


ROPE_THETA = 50000.0


def _write_as_nanotron(model, step_dir: Path, interleave: bool) -> None:
    """`model` (transformers Llama) saved in nanotron's checkpoint layout (tp = pp = 1), as nanotron names it."""
    import torch
    from safetensors.torch import save_file

    cfg = model.config
    head_dim = cfg.hidden_size // cfg.num_attention_heads

    def pairs_from_halves(w):  # the inverse of the converter's permutation
        heads = [h.view(2, head_dim // 2, -1).transpose(0, 1).reshape(head_dim, -1) for h in w.split(head_dim)]
        return torch.cat(heads)

    sd = model.state_dict()
    tensors = {
        "model.token_position_embeddings.pp_block.token_embedding.weight": sd["model.embed_tokens.weight"],
        "model.final_layer_norm.pp_block.weight": sd["model.norm.weight"],
        "model.lm_head.pp_block.weight": sd["lm_head.weight"],
    }
    for i in range(cfg.num_hidden_layers):
        hf, nt = f"model.layers.{i}", f"model.decoder.{i}.pp_block"
        q, k = sd[f"{hf}.self_attn.q_proj.weight"], sd[f"{hf}.self_attn.k_proj.weight"]
        if interleave:
            q, k = pairs_from_halves(q), pairs_from_halves(k)
        tensors[f"{nt}.attn.qkv_proj.weight"] = torch.cat([q, k, sd[f"{hf}.self_attn.v_proj.weight"]])
        tensors[f"{nt}.attn.o_proj.weight"] = sd[f"{hf}.self_attn.o_proj.weight"]
        tensors[f"{nt}.mlp.gate_up_proj.weight"] = torch.cat([sd[f"{hf}.mlp.gate_proj.weight"],
                                                               sd[f"{hf}.mlp.up_proj.weight"]])
        tensors[f"{nt}.mlp.down_proj.weight"] = sd[f"{hf}.mlp.down_proj.weight"]
        tensors[f"{nt}.input_layernorm.weight"] = sd[f"{hf}.input_layernorm.weight"]
        tensors[f"{nt}.post_attention_layernorm.weight"] = sd[f"{hf}.post_attention_layernorm.weight"]
    sharded = ("qkv_proj", "o_proj", "gate_up_proj", "down_proj", "token_embedding", "lm_head")
    for name, tensor in tensors.items():
        *folders, leaf = name.split(".")
        suffix = "_pp-rank-0-of-1_tp-rank-0-of-1" if any(s in name for s in sharded) else ""
        path = step_dir.joinpath("model", *folders, f"model_{leaf}{suffix}.safetensors")
        path.parent.mkdir(parents=True, exist_ok=True)
        save_file({"data": tensor.contiguous()}, str(path))
    config = {key: getattr(cfg, key) for key in (
        "bos_token_id", "eos_token_id", "hidden_act", "hidden_size", "initializer_range", "intermediate_size",
        "max_position_embeddings", "num_attention_heads", "num_hidden_layers", "num_key_value_heads",
        "rms_norm_eps", "tie_word_embeddings", "vocab_size")}
    config.update(rope_theta=ROPE_THETA, rope_interleaved=interleave, rope_scaling=None)
    (step_dir / "model_config.json").write_text(json.dumps(config))
    (step_dir.parent / "latest.txt").write_text(step_dir.name)


@pytest.mark.parametrize("interleave", [False, True])
def test_a_nanotron_checkpoint_converts_to_a_transformers_folder_with_the_same_outputs(tmp_path, interleave):
    import torch
    from transformers import AutoModelForCausalLM, LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    train_bpe(make_docs(50, 1, "Story"), tmp_path / "tokenizer.json")
    PreTrainedTokenizerFast(tokenizer_file=str(tmp_path / "tokenizer.json"), eos_token="<|endoftext|>").save_pretrained(
        tmp_path / "tokenizer"
    )
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=400, hidden_size=64, intermediate_size=96, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=32,
                         tie_word_embeddings=False, rope_theta=ROPE_THETA)
    original = LlamaForCausalLM(config).eval()
    _write_as_nanotron(original, tmp_path / "checkpoints" / "40", interleave)

    step = latest_nanotron_step(tmp_path / "checkpoints")
    nanotron_to_hf(step, str(tmp_path / "tokenizer"), tmp_path / "hf")
    converted = AutoModelForCausalLM.from_pretrained(tmp_path / "hf", local_files_only=True).eval()
    ids = torch.randint(0, 400, (2, 16))
    with torch.no_grad():
        want, got = original(ids).logits, converted(ids).logits
    torch.testing.assert_close(got, want, rtol=0, atol=1e-5)
    assert (tmp_path / "hf" / "tokenizer.json").is_file()
    assert json.loads((tmp_path / "hf" / "synthpedia_train.json").read_text())["converted_from"] == str(step)


def test_the_nanotron_job_writes_its_yaml_checks_its_ranks_and_reads_its_losses(tmp_path):
    import yaml

    from synthpedia.errors import InputError
    from synthpedia.train.nanotron_job import loss_from_log, write_config

    tok = train_bpe(make_docs(50, 1, "Story"), tmp_path / "tokenizer.json")
    write_token_folder(tok, make_docs(20, 2, "web"), tmp_path / "tokens" / "web")
    params = {**COSMO_1B, "dp": 8, "grad_accum": 20}
    spec = {"name": "cosmo-1b", "run": {"backend": "nanotron", "gpus": 8, "params": params}, "mixture": {"web": 2.0},
            "seed": 42, "token_dirs": {"web": str(tmp_path / "tokens" / "web")},
            "tokenizer": str(tmp_path / "tokenizer.json"), "work": str(tmp_path / "work")}
    write_config(spec)
    written = yaml.safe_load((tmp_path / "work" / "nanotron.yaml").read_text())
    assert written["parallelism"]["dp"] == 8 and written["tokens"]["batch_accumulation_per_replica"] == 20
    assert written["checkpoints"]["checkpoints_path"] == str(tmp_path / "work" / "checkpoints")
    assert written["data_stages"][0]["data"]["dataset"]["dataset_weights"] == [2.0]
    with pytest.raises(InputError, match="dp x tp x pp = 8 processes"):
        write_config({**spec, "run": {**spec["run"], "gpus": 4}})

    lines = (
        "[INFO] iteration: 1 / 140000 | consumed_tokens: 1.31M | lm_loss: 10.4 | lr: 1.5e-07 | eta: 1 day\n"
        "[INFO] something else\n"
        "[INFO] iteration: 2 / 140000 | consumed_tokens: 2.62M | lm_loss: 10.1 | lr: 3e-07 | eta: 1 day\n"
    )
    losses = loss_from_log(lines, params)
    assert losses["step"].to_list() == [1, 2] and losses["loss"].to_list() == [10.4, 10.1]
    assert losses["tokens"].to_list() == [1310720, 2621440]
    with pytest.raises(InputError, match="lm_loss"):
        loss_from_log("no steps here", params)

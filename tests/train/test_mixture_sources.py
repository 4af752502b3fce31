"""Training's mixture at paper scale: sources read from their shard folders, and tokens from outside the workflow."""

from __future__ import annotations

import json
import os
import random
import re
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import yaml

os.environ["HF_HUB_OFFLINE"] = "1"

from conftest import ROOT, jobs_planned, snakemake

from synthpedia.config import validate_config
from synthpedia.errors import InputError
from synthpedia.tokens import check_token_folder, merge_token_stats, tokenize_shards, train_tokenizer
from synthpedia.train.data import MixtureSampler, TokenStream, expand_token_manifests, token_files

WORDS = "atom orbit proton graph vertex edge théorème 数 can't y³ [x-y] essay river delta".split()


def texts(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [f"Part {i}. " + " ".join(rng.choice(WORDS) for _ in range(rng.randint(10, 60))) for i in range(n)]


def curated_shard(path: Path, source: str, docs: list[str], start: int) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    pl.DataFrame({"prompt_id": [f"{source}:{start + i:05d}" for i in range(len(docs))],
                  "source": [source] * len(docs), "text": docs}).write_parquet(path)
    return str(path)


@pytest.fixture(scope="module")
def kit(tmp_path_factory):
    """A tokenizer, one source tokenised whole and per shard (documents in id order), and its stats.json."""
    root = tmp_path_factory.mktemp("mixture")
    tok = root / "tokenizer" / "tokenizer.json"
    tok.parent.mkdir()
    train_tokenizer(texts(150, 1), vocab_size=350, out_path=tok, min_frequency=2)
    docs = texts(60, 2)
    shards = [curated_shard(root / "curated" / "web" / f"{k:03d}.parquet", "web", docs[k * 20:(k + 1) * 20], k * 20)
              for k in range(3)]
    tokenize_shards(shards, root / "whole", tok, root / "w", source="web", shuffle=False, stats_path=root / "w.json")
    folders, stats = [], []
    for k, shard in enumerate(shards):
        folder = root / "tokens" / "web" / f"{k:03d}"
        tokenize_shards([shard], folder, tok, root / "work", source="web", shuffle=False, name=f"web_{k:03d}",
                        stats_path=f"{folder}.stats.json")
        folders.append(folder)
        stats.append(f"{folder}.stats.json")
    merge_token_stats(stats, folders, root / "tokens" / "web" / "stats.json", name="web")
    return {"root": root, "tokenizer": str(tok), "manifest": str(root / "tokens" / "web" / "stats.json"),
            "whole": str(root / "whole"), "folders": folders}


def test_a_source_read_from_its_shard_folders_gives_the_whole_source_windows(kit):
    files = token_files(kit["manifest"])
    assert [f.parent for f in files] == kit["folders"]  # shard folders in order, then file names
    stream, whole = TokenStream(files, 31, 2), TokenStream(token_files(kit["whole"]), 31, 2)
    assert len(stream) == len(whole) > 3
    assert all(stream[i]["input_ids"].tolist() == whole[i]["input_ids"].tolist() for i in range(len(whole)))
    # some window spans two shard files, and no token is lost at shard ends
    ends = np.cumsum([os.path.getsize(f) // 2 for f in files])[:-1]
    assert any(i * 32 < end < (i + 1) * 32 for end in ends for i in range(len(stream)))

    a = MixtureSampler({"web": kit["manifest"]}, {"web": 1}, seq_len=31, seed=4)
    b = MixtureSampler({"web": kit["whole"]}, {"web": 1}, seq_len=31, seed=4)
    assert a.window_counts() == b.window_counts()
    assert a.step_batch(3, 8)[0].tolist() == b.step_batch(3, 8)[0].tolist()


def test_external_parquet_and_token_folders_join_the_mixture(kit, tmp_path):
    root = kit["root"]
    # An external parquet file: a text column only, tokenised in file order with the run's tokenizer.
    docs = texts(30, 5)
    external = tmp_path / "fineweb" / "part-0.parquet"
    external.parent.mkdir()
    pl.DataFrame({"text": docs, "url": ["u"] * 30}).write_parquet(external)
    stats = tokenize_shards([str(external)], tmp_path / "tokens" / "fineweb" / "00000", kit["tokenizer"],
                            tmp_path / "work", source="fineweb", name="fineweb_00000", external=True, shuffle=False,
                            stats_path=tmp_path / "tokens" / "fineweb" / "00000.stats.json")
    assert stats["documents"] == 30
    merge_token_stats([tmp_path / "tokens" / "fineweb" / "00000.stats.json"], [tmp_path / "tokens" / "fineweb" / "00000"],
                      tmp_path / "tokens" / "fineweb" / "stats.json", name="fineweb")
    bad = tmp_path / "bad.parquet"
    pl.DataFrame({"body": ["x"]}).write_parquet(bad)
    with pytest.raises(InputError, match=r"bad.parquet lacks column\(s\) \['text'\]"):
        tokenize_shards([str(bad)], tmp_path / "x", kit["tokenizer"], tmp_path / "w", source="x", external=True)

    # A datatrove token folder made elsewhere with the same tokenizer: checked, then used as is.
    checked = check_token_folder(kit["whole"], kit["tokenizer"], key="train.mixture.cosmo.tokens", name="cosmo",
                                 out_path=tmp_path / "tokens" / "cosmo" / "stats.json")
    assert checked["folders"] == [kit["whole"]] and checked["documents"] == 60

    dirs = {"web": kit["manifest"], "fineweb": str(tmp_path / "tokens" / "fineweb" / "stats.json"),
            "cosmo": str(tmp_path / "tokens" / "cosmo" / "stats.json")}
    sampler = MixtureSampler(dirs, {"web": 1, "fineweb": 1, "cosmo": 1}, seq_len=15, seed=0)
    assert set(sampler.batch(300)[1]) == {"web", "fineweb", "cosmo"}
    only = MixtureSampler(dirs, {"web": 0, "fineweb": 2, "cosmo": 0}, seq_len=15, seed=0)
    assert set(only.batch(50)[1]) == {"fineweb"}

    # nanotron takes folders: a member's weight is split among its folders by their tokens.
    folders, weights = expand_token_manifests(dirs, {"web": 3.0, "fineweb": 2.0, "cosmo": 1.0})
    assert folders["cosmo"] == kit["whole"] and weights["fineweb"] == 2.0
    web = {k: v for k, v in weights.items() if k.startswith("web/")}
    assert len(web) == 3 and sum(web.values()) == pytest.approx(3.0)
    sizes = [sum(f.stat().st_size for f in Path(folders[k]).glob("*.ds")) for k in sorted(web)]
    assert [web[k] for k in sorted(web)] == pytest.approx([3.0 * s / sum(sizes) for s in sizes])


def test_a_token_folder_of_another_tokenizer_is_refused_naming_the_key(kit, tmp_path):
    key = "train.mixture.cosmo.tokens"
    other = tmp_path / "other" / "tokenizer.json"
    other.parent.mkdir()
    train_tokenizer(texts(150, 9), vocab_size=320, out_path=other, min_frequency=2)
    shard = curated_shard(tmp_path / "c" / "000.parquet", "web", texts(10, 3), 0)
    tokenize_shards([shard], tmp_path / "theirs", other, tmp_path / "w", source="web", stats_path=tmp_path / "s.json")
    with pytest.raises(InputError, match=re.escape(f"config key '{key}'") + ".*not the run's tokenizer"):
        check_token_folder(tmp_path / "theirs", kit["tokenizer"], key=key)

    big = tmp_path / "big"
    big.mkdir()
    np.arange(5, dtype="<u4").tofile(big / "000_x.ds")
    (big / "000_x.ds.metadata").write_text("some/tokenizer|4\n5\n5T")
    with pytest.raises(InputError, match=re.escape(f"config key '{key}'") + ": .* 4-byte tokens"):
        check_token_folder(big, kit["tokenizer"], key=key)

    no_eos = tmp_path / "no_eos"
    no_eos.mkdir()
    np.array([5, 6, 7, 8], dtype="<u2").tofile(no_eos / "000_x.ds")
    np.array([4], dtype="<u8").tofile(no_eos / "000_x.ds.index")
    with pytest.raises(InputError, match=re.escape(f"config key '{key}'") + ".*does not end with the run's eos"):
        check_token_folder(no_eos, kit["tokenizer"], key=key)
    with pytest.raises(InputError, match=re.escape(f"config key '{key}'") + ": no datatrove .ds"):
        check_token_folder(tmp_path / "c", kit["tokenizer"], key=key)


def with_mixture(default_config, **entries) -> dict:
    config = json.loads(json.dumps(default_config))
    config["train"]["mixture"].update(entries)
    return config


def test_mixture_config_errors_name_the_key(default_config, tmp_path):
    (tmp_path / "tokens").mkdir()
    (tmp_path / "parquet").mkdir()
    pl.DataFrame({"text": ["a"]}).write_parquet(tmp_path / "parquet" / "a.parquet")
    fine = {"weight": 2, "parquet": str(tmp_path / "parquet" / "*.parquet")}
    config = validate_config(with_mixture(default_config, fineweb=fine, cosmo={"weight": 1, "tokens": str(tmp_path / "tokens")}),
                             base_dir=ROOT)
    assert config["train"]["mixture"]["fineweb"]["weight"] == 2

    cases = [
        ({"fineweb": {"weight": 1, "parquet": str(tmp_path / "nope" / "*.parquet")}},
         r"config key 'train.mixture.fineweb.parquet': no parquet file found at .*nope"),
        ({"cosmo": {"weight": 1, "tokens": str(tmp_path / "missing")}},
         r"config key 'train.mixture.cosmo.tokens': folder not found: .*missing"),
        ({"both": {"weight": 1, "tokens": str(tmp_path / "tokens"), "parquet": str(tmp_path / "parquet")}},
         r"config key 'train.mixture.both'"),
        ({"openstax": {"weight": 1, "tokens": str(tmp_path / "tokens")}},
         r"config key 'train.mixture.openstax': 'openstax' is a source of this run"),
        ({"fineweb": 1.0}, r"config key 'train.mixture.fineweb': 'fineweb' is not a source"),
        ({"bad.name": {"weight": 1, "tokens": str(tmp_path / "tokens")}}, r"config key 'train.mixture.bad.name'"),
    ]
    for entries, message in cases:
        with pytest.raises(InputError, match=message):
            validate_config(with_mixture(default_config, **entries), base_dir=ROOT)


def test_the_dag_tokenises_external_parquet_per_file_and_checks_token_folders(tmp_path):
    for name in ("a", "b"):
        (tmp_path / "fineweb" / name).mkdir(parents=True)
        pl.DataFrame({"text": ["x"]}).write_parquet(tmp_path / "fineweb" / name / "part.parquet")
    (tmp_path / "cosmo").mkdir()
    overlay = tmp_path / "overlay.yaml"
    overlay.write_text(yaml.safe_dump({"train": {"mixture": {
        "fineweb": {"weight": 2.0, "parquet": str(tmp_path / "fineweb")},
        "cosmo": {"weight": 0.5, "tokens": str(tmp_path / "cosmo")},
    }}}))
    out = snakemake("-n", "--forceall", "--configfile", str(overlay), "--", "results/checkpoints/tiny").stdout
    counts = jobs_planned(out)
    assert counts["tokenize_external"] == 2 and counts["external_token_stats"] == 1
    assert counts["check_external_tokens"] == 1 and counts["train_tokenizer"] == 1
    assert counts["tokenize"] == counts["dedup_filter"]  # one job per curated shard
    assert "results/tokens/fineweb/00001" in out and "results/tokens/cosmo/stats.json" in out


def test_the_nanotron_yaml_gets_every_shard_folder_at_its_share_of_the_source_weight(kit, tmp_path):
    from train_kit import COSMO_1B

    from synthpedia.train.nanotron_job import write_config

    params = {**COSMO_1B, "dp": 1, "grad_accum": 1}
    spec = {"name": "c", "run": {"backend": "nanotron", "gpus": 1, "params": params}, "mixture": {"web": 3.0},
            "seed": 1, "token_dirs": {"web": kit["manifest"]}, "tokenizer": kit["tokenizer"],
            "work": str(tmp_path / "work")}
    write_config(spec)
    dataset = yaml.safe_load((tmp_path / "work" / "nanotron.yaml").read_text())["data_stages"][0]["data"]["dataset"]
    assert dataset["dataset_folder"] == [str(f) for f in kit["folders"]]
    assert sum(dataset["dataset_weights"]) == pytest.approx(3.0) and len(dataset["dataset_weights"]) == 3

"""Tokenisation: a deterministic BPE, token files that decode back exactly, readable by datatrove's dataset."""

import json
import random

import numpy as np
import polars as pl
import pytest

from synthpedia.errors import InputError
from synthpedia.tokens import (
    EOS_TOKEN,
    load_tokenizer,
    read_token_documents,
    tokenize_job,
    tokenize_shards,
    train_tokenizer,
    train_tokenizer_job,
)

WORDS = "the cell membrane divides energy photosynthesis ratio fraction équation 水 🙂 don't x² (a+b)".split()


def corpus(n: int, seed: int = 3) -> list[str]:
    rng = random.Random(seed)
    texts = []
    for i in range(n):
        body = " ".join(rng.choice(WORDS) for _ in range(rng.randint(20, 120)))
        # leading/trailing spaces, newlines, tabs: all must survive the round trip
        texts.append(f"{'  ' if i % 5 == 0 else ''}# Unit {i}\n\n{body}\n\t- end{' ' if i % 3 == 0 else ''}")
    return texts


@pytest.fixture(scope="module")
def tokenizer_json(tmp_path_factory):
    path = tmp_path_factory.mktemp("tok") / "tokenizer.json"
    train_tokenizer(corpus(200), vocab_size=400, out_path=path, min_frequency=2)
    return str(path)


def shard(path, source, texts, start=0):
    pl.DataFrame(
        {
            "prompt_id": [f"{source}:{start + i:04d}" for i in range(len(texts))],
            "source": [source] * len(texts),
            "text": texts,
            "seed_id": ["s"] * len(texts),
        }
    ).write_parquet(path)
    return str(path)


def test_tokenizer_is_deterministic_byte_level_with_eos(tmp_path, tokenizer_json):
    again = tmp_path / "again.json"
    train_tokenizer(corpus(200), vocab_size=400, out_path=again, min_frequency=2)
    assert again.read_bytes() == open(tokenizer_json, "rb").read()
    tok = load_tokenizer(tokenizer_json)
    assert tok.get_vocab_size() <= 400 and tok.token_to_id(EOS_TOKEN) == 0
    unseen = "Zebra ünïcödé 🚀 never seen\r\n  "
    assert tok.decode(tok.encode(unseen).ids) == unseen  # bytes cover any text
    with pytest.raises(InputError, match="tokenizer.json file"):
        load_tokenizer(tmp_path)  # a folder would be a hub name for datatrove


def test_token_files_decode_back_to_exact_texts(tmp_path, tokenizer_json):
    texts = corpus(40, seed=11)
    inputs = [
        shard(tmp_path / "a.parquet", "stanford", texts[:25]),
        shard(tmp_path / "b.parquet", "stanford", texts[25:], 25),
    ]
    out = tmp_path / "tokens" / "stanford"
    stats = tokenize_shards(inputs, out, tokenizer_json, tmp_path / "work", source="stanford", shuffle=False)

    assert read_token_documents(out, tokenizer_json) == texts  # prompt_id order, exact text
    tok = load_tokenizer(tokenizer_json)
    assert stats["documents"] == 40
    assert stats["tokens"] == sum(len(tok.encode(t).ids) + 1 for t in texts)  # +1: eos per document
    assert stats == json.loads((out / "stats.json").read_text())
    assert sorted(p.name for p in out.iterdir()) == [
        "000_stanford.ds",
        "000_stanford.ds.index",
        "000_stanford.ds.metadata",
        "stanford.ds.metadata",
        "stats.json",
    ]
    assert (out / "000_stanford.ds").stat().st_size == 2 * stats["tokens"]  # uint16 tokens

    # shuffled: same documents, seeded order, byte-identical on a rerun
    shuffled = tmp_path / "shuffled"
    tokenize_shards(inputs, shuffled, tokenizer_json, tmp_path / "work", seed=5, stats_path=tmp_path / "s.json")
    first = (shuffled / "000_stanford.ds").read_bytes()
    decoded = read_token_documents(shuffled, tokenizer_json)
    assert sorted(decoded) == sorted(texts) and decoded != texts
    tokenize_shards(inputs[::-1], shuffled, tokenizer_json, tmp_path / "work", seed=5, stats_path=tmp_path / "s.json")
    assert (shuffled / "000_stanford.ds").read_bytes() == first  # shard order does not matter either
    assert json.loads((tmp_path / "s.json").read_text())["documents"] == 40
    assert not (tmp_path / "work").exists()  # scratch removed


def test_datatrove_folder_dataset_reads_windows(tmp_path, tokenizer_json):
    from datatrove.utils.dataset import DatatroveFolderDataset

    texts = corpus(30, seed=5)
    out = tmp_path / "tok"
    stats = tokenize_shards(
        [shard(tmp_path / "a.parquet", "web", texts)], out, tokenizer_json, tmp_path / "w", shuffle=False
    )
    seq_len = 64
    ds = DatatroveFolderDataset(str(out), seq_len=seq_len, filename_pattern="*.ds", token_size=stats["token_size"])
    assert len(ds) == stats["tokens"] // (seq_len + 1)
    tokens = np.fromfile(out / "000_web.ds", dtype="<u2")
    for i in (0, len(ds) - 1):
        window = ds[i]["input_ids"]
        assert window.shape == (seq_len + 1,)
        assert window.tolist() == tokens[i * (seq_len + 1) : (i + 1) * (seq_len + 1)].tolist()
    assert (tokens == 0).sum() == 30  # one eos per document


def test_wrong_source_and_empty_input(tmp_path, tokenizer_json):
    path = shard(tmp_path / "a.parquet", "web", ["some text"])
    with pytest.raises(InputError, match="from source 'web', not 'wikihow'"):
        tokenize_shards([path], tmp_path / "o", tokenizer_json, tmp_path / "w", source="wikihow")
    empty = shard(tmp_path / "e.parquet", "web", [])
    stats = tokenize_shards([empty], tmp_path / "o", tokenizer_json, tmp_path / "w", source="web")
    assert (stats["documents"], stats["tokens"]) == (0, 0)
    assert read_token_documents(tmp_path / "o", tokenizer_json) == []


def test_jobs_read_shards_in_prompt_id_order(tmp_path, tokenizer_json):
    texts = corpus(200)
    # the second shard first: the job sorts by prompt_id, so the file is the one trained above
    paths = [shard(tmp_path / "b.parquet", "web", texts[120:], 120), shard(tmp_path / "a.parquet", "web", texts[:120])]
    out = tmp_path / "tokenizer.json"
    train_tokenizer_job(dataset_paths=paths, out_path=str(out), params={"vocab_size": 400, "min_frequency": 2})
    assert out.read_bytes() == open(tokenizer_json, "rb").read()

    tokenize_job(dataset_paths=paths, tokenizer_path=str(out), out_dir=str(tmp_path / "tokens"),
                 stats_path=str(tmp_path / "stats.json"), workdir=str(tmp_path / "work"), source="web", seed=1)
    assert sorted(read_token_documents(tmp_path / "tokens", out)) == sorted(texts)
    assert json.loads((tmp_path / "stats.json").read_text())["seed"] == 1

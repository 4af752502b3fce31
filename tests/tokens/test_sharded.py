"""Tokenisation at paper scale: a bounded seeded tokenizer sample, one job per shard, a pretrained tokenizer."""

import json
import random
import tracemalloc

import polars as pl
import pytest
from tokenizers import Tokenizer, models, pre_tokenizers, processors, trainers

from synthpedia.pretrained import pretrained_location
from synthpedia.errors import InputError
from synthpedia.tokens import (
    EOS_TOKEN,
    load_tokenizer,
    merge_token_stats,
    pretrained_tokenizer_job,
    read_token_documents,
    read_token_ids,
    sample_documents,
    tokenize_shards,
    tokenizer_eos,
    train_tokenizer,
    train_tokenizer_job,
)

WORDS = "cell membrane energy ratio fraction équation 水 don't x² (a+b) proof lemma river".split()


def texts(n: int, seed: int = 3, words=(20, 80)) -> list[str]:
    rng = random.Random(seed)
    return [f"# Unit {i}\n\n" + " ".join(rng.choice(WORDS) for _ in range(rng.randint(*words))) for i in range(n)]


def write_shards(folder, source, docs, per_shard, by_hash=True):
    """`docs` as shards of `per_shard` rows; by_hash spreads ids over shards like the prompt stage does."""
    folder.mkdir(parents=True, exist_ok=True)
    ids = [f"{source}:{i:06d}" for i in range(len(docs))]
    count = max(1, -(-len(docs) // per_shard))
    groups = [[] for _ in range(count)]
    for i, (pid, text) in enumerate(zip(ids, docs)):
        groups[(i * 7919) % count if by_hash else i // per_shard].append((pid, text))
    paths = []
    for k, rows in enumerate(groups):
        path = folder / f"{k:03d}.parquet"
        pl.DataFrame({"prompt_id": [r[0] for r in rows], "source": [source] * len(rows), "text": [r[1] for r in rows]},
                     schema={"prompt_id": pl.String, "source": pl.String, "text": pl.String}).write_parquet(path)
        paths.append(str(path))
    return paths


@pytest.fixture(scope="module")
def tokenizer_json(tmp_path_factory):
    path = tmp_path_factory.mktemp("tok") / "tokenizer.json"
    train_tokenizer(texts(200), vocab_size=400, out_path=path, min_frequency=2)
    return str(path)


def test_tokenizer_sample_is_seeded_bounded_and_independent_of_sharding(tmp_path):
    docs = texts(300)
    three = write_shards(tmp_path / "three", "web", docs, 100)
    seven = write_shards(tmp_path / "seven", "web", docs, 43)
    sample, seen = sample_documents(three, 50, seed=1)
    assert (len(sample), seen) == (50, 300)
    assert sample == sample_documents(seven[::-1], 50, seed=1)[0]  # other sharding, other shard order
    assert set(sample) <= set(docs) and len(set(sample)) == 50
    assert sample != sample_documents(three, 50, seed=2)[0]
    assert sample_documents(three, 1000, seed=1)[0] == docs  # a sample as big as the corpus: all, in id order

    # The trained file depends on the sample and seed only.
    params = {"vocab_size": 300, "min_frequency": 2, "sample_documents": 50}
    a, b = tmp_path / "a" / "tokenizer.json", tmp_path / "b" / "tokenizer.json"
    train_tokenizer_job(dataset_paths=three, out_path=str(a), params=params, seed=1)
    train_tokenizer_job(dataset_paths=seven, out_path=str(b), params=params, seed=1)
    assert a.read_bytes() == b.read_bytes()
    assert json.loads((a.parent / "tokenizer_config.json").read_text())["eos_token"] == EOS_TOKEN


def test_tokenizer_sample_memory_does_not_grow_with_the_corpus(tmp_path):
    """Shards of a fixed size: 5x more of them leaves the sample's size and the peak memory where they were."""
    small = write_shards(tmp_path / "small", "web", texts(400, seed=1, words=(150, 200)), 100, by_hash=False)
    large = write_shards(tmp_path / "large", "web", texts(2000, seed=1, words=(150, 200)), 100, by_hash=False)

    def peak(paths):
        tracemalloc.start()
        sample, seen = sample_documents(paths, 60, seed=4)
        peak_bytes = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return len(sample), seen, peak_bytes

    n_small, seen_small, peak_small = peak(small)
    n_large, seen_large, peak_large = peak(large)
    assert (n_small, n_large, seen_small, seen_large) == (60, 60, 400, 2000)
    held = sum(len(t.encode()) for t in texts(400, seed=1, words=(150, 200)))  # the small corpus's text
    assert peak_large < 1.5 * peak_small, (peak_small, peak_large)
    assert peak_large < held  # never the whole corpus, not even the small one


def test_per_shard_tokens_equal_whole_source_tokens(tmp_path, tokenizer_json):
    docs = texts(90, seed=9)
    shards = write_shards(tmp_path / "curated", "web", docs, 30)
    whole = tokenize_shards(shards, tmp_path / "whole", tokenizer_json, tmp_path / "w0", source="web", seed=3,
                            stats_path=tmp_path / "whole.json")
    stats, folders = [], []
    for k, path in enumerate(shards):
        folder = tmp_path / "tokens" / "web" / f"{k:03d}"
        tokenize_shards([path], folder, tokenizer_json, tmp_path / "work" / f"{k:03d}", source="web", seed=3,
                        name=f"web_{k:03d}", stats_path=tmp_path / "tokens" / "web" / f"{k:03d}.stats.json")
        stats.append(tmp_path / "tokens" / "web" / f"{k:03d}.stats.json")
        folders.append(folder)
    merged = merge_token_stats(stats, folders, tmp_path / "tokens" / "web" / "stats.json", name="web")

    per_shard = [tuple(ids) for folder in folders for ids in read_token_ids(folder, tokenizer_json)]
    assert sorted(per_shard) == sorted(tuple(ids) for ids in read_token_ids(tmp_path / "whole", tokenizer_json))
    tok = load_tokenizer(tokenizer_json)
    by_text = {tok.decode(list(ids[:-1])): ids for ids in per_shard}
    assert all(list(by_text[d]) == tok.encode(d).ids + [0] for d in docs)  # each document's own tokens + eos
    assert (merged["documents"], merged["tokens"]) == (whole["documents"], whole["tokens"]) == (
        90, sum(len(tok.encode(d).ids) + 1 for d in docs))
    assert merged["folders"] == [str(f) for f in folders]
    assert json.loads((tmp_path / "tokens" / "web" / "stats.json").read_text()) == merged


def test_a_killed_tokenize_jobs_scratch_is_gone_after_the_rerun(tmp_path, tokenizer_json):
    [path] = write_shards(tmp_path / "curated", "web", texts(10), 10)
    work = tmp_path / "work" / "web" / "000"
    (work / "tokenize-old" / "docs").mkdir(parents=True)
    (work / "tokenize-old" / "docs" / "00000.parquet").write_bytes(b"half")
    half_built = tmp_path / "tokens" / "web" / ".000.abc.tmp"
    half_built.mkdir(parents=True)
    tokenize_shards([path], tmp_path / "tokens" / "web" / "000", tokenizer_json, work, source="web",
                    stats_path=tmp_path / "s.json")
    assert not work.exists() and not half_built.exists()
    assert len(read_token_documents(tmp_path / "tokens" / "web" / "000", tokenizer_json)) == 10


def mistral_like(folder, config=True):
    """A small pretrained-style tokenizer.json with <unk> <s> </s>, a <s> post-processor, eos </s> in its config."""
    folder.mkdir(parents=True, exist_ok=True)
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.train_from_iterator(texts(100), trainers.BpeTrainer(vocab_size=300, special_tokens=["<unk>", "<s>", "</s>"],
                                                            show_progress=False))
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 1)])
    tok.save(str(folder / "tokenizer.json"))
    if config:
        (folder / "tokenizer_config.json").write_text(json.dumps({"eos_token": "</s>", "bos_token": "<s>"}))
    return folder


def test_a_pretrained_tokenizer_is_copied_in_and_decides_eos_and_vocab(tmp_path):
    from synthpedia.train.model import load_tokenizer as model_tokenizer

    source = mistral_like(tmp_path / "mistral")
    out = tmp_path / "results" / "tokenizer" / "tokenizer.json"
    pretrained_tokenizer_job(pretrained=str(source), out_path=str(out), offline=True)
    assert out.read_bytes() == (source / "tokenizer.json").read_bytes()
    assert tokenizer_eos(out) == "</s>"
    eos_id = Tokenizer.from_file(str(out)).token_to_id("</s>")

    [path] = write_shards(tmp_path / "curated", "web", texts(12), 12)
    stats = tokenize_shards([path], tmp_path / "tokens", out, tmp_path / "work", source="web", shuffle=False,
                            stats_path=tmp_path / "s.json")
    ids = read_token_ids(tmp_path / "tokens", out)
    assert all(doc[-1] == eos_id and doc[0] != 1 for doc in ids)  # eos after each, no <s> from its post-processor
    assert stats["eos_token"] == "</s>" and stats["vocab_size"] == Tokenizer.from_file(str(out)).get_vocab_size()

    model_side = model_tokenizer(str(out))
    assert model_side.eos_token == "</s>" and model_side.eos_token_id == eos_id
    assert len(model_side) == stats["vocab_size"]  # the model's vocabulary is the tokenizer's

    # A bare tokenizer.json file: its eos comes from its vocabulary.
    bare = mistral_like(tmp_path / "bare", config=False) / "tokenizer.json"
    pretrained_tokenizer_job(pretrained=str(bare), out_path=str(tmp_path / "r2" / "tokenizer.json"), offline=True)
    assert tokenizer_eos(tmp_path / "r2" / "tokenizer.json") == "</s>"


def test_pretrained_errors_name_the_key(tmp_path):
    assert pretrained_location("mistralai/Mistral-7B-v0.1") == ("hub", None)
    with pytest.raises(InputError, match=r"config key 'tokenizer.pretrained': file not found: .*nope.json"):
        pretrained_location(str(tmp_path / "nope.json"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match=r"'tokenizer.pretrained': folder .* has no tokenizer.json"):
        pretrained_location(str(tmp_path / "empty"))
    with pytest.raises(InputError, match=r"'tokenizer.pretrained'.*offline is true"):
        pretrained_tokenizer_job(pretrained="mistralai/Mistral-7B-v0.1", out_path=str(tmp_path / "t.json"),
                                 offline=True)


def test_validation_checks_the_pretrained_path(default_config, tmp_path):
    from synthpedia.config import validate_config

    from conftest import ROOT

    config = json.loads(json.dumps(default_config))
    config["tokenizer"]["pretrained"] = "resources/no-such-tokenizer.json"
    with pytest.raises(InputError, match=r"config key 'tokenizer.pretrained': file not found"):
        validate_config(config, base_dir=ROOT)
    config["tokenizer"]["pretrained"] = "mistralai/Mistral-7B-v0.1"  # the embedded default is offline
    with pytest.raises(InputError, match=r"'tokenizer.pretrained'.*offline is true"):
        validate_config(config, base_dir=ROOT)
    config["offline"] = False
    assert validate_config(config, base_dir=ROOT)["tokenizer"]["pretrained"] == "mistralai/Mistral-7B-v0.1"
    assert default_config["tokenizer"]["pretrained"] is None
    assert default_config["tokenizer"]["sample_documents"] >= 1

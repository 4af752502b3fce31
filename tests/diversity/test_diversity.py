"""Diversity metrics: per-shard partials merge into exactly the one-pass figures, and planted
repetition (stock openings, near-copies) is caught."""

import random

import numpy as np
import polars as pl
import pytest

from synthpedia.diversity import (
    GROUP,
    diversity_table,
    merge_counts,
    merge_samples,
    near_duplicate_flags,
    near_duplicates,
    shard_partials,
)

SEED = 42
WORDS = [f"{stem}{i}" for stem in ("river", "lantern", "orchard", "ledger") for i in range(100)]


def corpus(n: int, rng: random.Random) -> pl.DataFrame:
    rows = []
    for i in range(n):
        source = rng.choice(["openstax", "wikihow"])
        audience = rng.choice(["college", "young_children"])
        text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(30, 60)))
        rows.append({"source": source, "style": "textbook", "audience": audience, "prompt_id": f"p{i:04d}",
                     "text": text.capitalize() + ".", "completion_tokens": rng.randint(10, 60)})
    return pl.DataFrame(rows)


def fake_embed(texts):
    """Bag-of-words vectors: equal word multisets give cosine 1."""
    vectors = np.zeros((len(texts), len(WORDS) + 1), dtype=np.float32)
    for i, text in enumerate(texts):
        for word in text.lower().strip(".").split():
            vectors[i, WORDS.index(word) if word in WORDS else len(WORDS)] += 1
    return vectors


def figures(shards, sample_size=7, threshold=0.9):
    parts = [shard_partials(shard, SEED, sample_size) for shard in shards]
    counts = merge_counts([c for c, _ in parts])
    sample = merge_samples([s for _, s in parts], sample_size)
    return counts, sample, diversity_table(counts, near_duplicates(sample, fake_embed, threshold))


def test_merged_shards_equal_one_pass():
    rows = corpus(300, random.Random(7))
    one_counts, one_sample, one_table = figures([rows])
    shards = [rows.slice(0, 40), rows.slice(40, 170), rows.slice(210, 90)]
    counts, sample, table = figures(shards)
    assert counts.equals(one_counts)
    assert sample.equals(one_sample)  # the same rows are sampled wherever the shards split
    assert table.equals(one_table)
    assert table["documents"].sum() == 300
    assert table.filter(pl.col("near_duplicate_sample") != 7).height == 0
    # The shard order does not matter either.
    assert figures(shards[::-1])[2].equals(one_table)


def test_distinct_n_and_openings_by_hand():
    rows = pl.DataFrame({
        "source": ["s"] * 3, "style": ["blog"] * 3, "audience": ["all"] * 3, "prompt_id": ["a", "b", "c"],
        "text": ["The cat sat on the mat.", "The cat sat on the hat!", "A dog ran."],
        "completion_tokens": [7, 7, 4],
    })
    row = figures([rows])[2].row(0, named=True)
    # unigrams: the cat sat on the mat | the cat sat on the hat | a dog ran -> 9 distinct of 15
    assert row["distinct_1"] == pytest.approx(9 / 15)
    # bigrams: 5 + 5 + 2 = 12, distinct: the-cat cat-sat sat-on on-the the-mat the-hat a-dog dog-ran = 8
    assert row["distinct_2"] == pytest.approx(8 / 12)
    assert row["top20_opening_share"] == 1.0
    assert row["top_openings"].startswith('[["the cat sat on the", 2]')
    assert row["words_mean"] == pytest.approx((6 + 6 + 3) / 3)
    assert row["tokens_p50"] == 7


def test_planted_openings_and_near_copies_are_caught():
    rng = random.Random(3)
    diverse = corpus(200, rng).with_columns(pl.lit("stories").alias("source"), pl.lit("general").alias("audience"))
    stock = diverse.with_columns(
        pl.lit("stories_planted").alias("source"),
        pl.concat_str([pl.lit("Once upon a time there was "), pl.col("text")]).alias("text"),
        pl.col("prompt_id") + "x",
    )
    # Near-copies: every other text repeats the one before it with its last word changed.
    base = stock["text"].to_list()
    copies = [t if i % 2 == 0 else base[i - 1].rsplit(" ", 1)[0] + " lantern7." for i, t in enumerate(base)]
    planted = stock.with_columns(pl.Series("text", copies))
    # The sample holds every text here; with a smaller one, a pair counts when both halves are drawn.
    table = figures([diverse, planted], sample_size=200)[2]
    clean, bad = (table.filter(pl.col("source") == s).row(0, named=True) for s in ("stories", "stories_planted"))
    assert clean["top20_opening_share"] < 0.2
    assert bad["top20_opening_share"] == 1.0
    assert "once upon a time" in bad["top_openings"]
    assert clean["near_duplicate_rate"] < 0.1
    assert bad["near_duplicate_rate"] > 0.9
    assert bad["distinct_3"] < clean["distinct_3"]


def test_block_search_equals_full_matrix():
    rng = np.random.default_rng(0)
    base = rng.normal(size=(40, 16)).astype(np.float32)
    embeddings = np.concatenate([base, base[:10] + 0.01 * rng.normal(size=(10, 16)).astype(np.float32)])
    unit = embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True)
    sims = unit @ unit.T
    np.fill_diagonal(sims, -1)
    expected = (sims > 0.98).any(axis=1)
    for block in (1, 7, 64):
        assert (near_duplicate_flags(embeddings, 0.98, block=block) == expected).all()
    assert expected.sum() == 20


def test_minilm_sees_a_paraphrase_as_near_duplicate():
    from synthpedia.diversity import minilm_embedder

    texts = ["The mitochondria is the powerhouse of the cell, turning food into energy.",
             "The mitochondria are the powerhouse of the cell, turning food into energy.",
             "Volcanoes form where tectonic plates pull apart or one slides under another."]
    sample = pl.DataFrame({**{c: ["g"] * 3 for c in GROUP}, "prompt_id": ["a", "b", "c"], "text": texts})
    row = near_duplicates(sample, minilm_embedder(threads=1), 0.95).row(0, named=True)
    assert row == {"source": "g", "style": "g", "audience": "g", "near_duplicate_sample": 3, "near_duplicates": 2}

"""Diversity metrics: per-shard partials merge into exactly the one-pass figures, distinct-n
sketches stay within their stated error, and planted repetition (stock openings, near-copies) is
caught."""

import math
import random

import numpy as np
import polars as pl
import pytest

from synthpedia.diversity import (
    GROUP,
    DistinctHashes,
    _bit_length,
    diversity_table,
    merge_counts,
    merge_samples,
    near_duplicate_flags,
    near_duplicates,
    shard_partials,
    sketch_estimate,
    sketch_registers,
)
from synthpedia.errors import InputError

SEED = 42
PRECISION = 14  # the schema's default
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


def figures(shards, sample_size=7, threshold=0.9, precision=PRECISION):
    parts = [shard_partials(shard, SEED, sample_size, precision) for shard in shards]
    counts = merge_counts([c for c, _ in parts], precision)
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
    # Below 2^p distinct n-grams per group the counts are exact: no sketch anywhere.
    assert not counts["kind"].str.ends_with("_sketch").any()


def hashes(n: int, salt: str = "") -> list[int]:
    import xxhash

    return [xxhash.xxh3_64_intdigest(f"{salt}{i}".encode()) for i in range(n)]


@pytest.mark.parametrize("precision", [6, 8])
def test_sketched_shards_merge_into_the_one_pass_sketch_bit_for_bit(precision):
    # 2^6 = 64 distinct n-grams per group and n are kept exactly: here some shards' groups stay
    # exact, others turn into sketches, and exact sets turn into sketches when merged.
    rows = corpus(300, random.Random(11))
    shards = [rows.slice(0, 1), rows.slice(1, 42), rows.slice(43, 200), rows.slice(243, 57)]
    parts = [shard_partials(shard, SEED, 7, precision)[0] for shard in shards]
    kinds = pl.concat(parts)["kind"]
    assert kinds.str.ends_with("_hashes").any() and kinds.str.ends_with("_sketch").any()
    one_counts, _, one_table = figures([rows], precision=precision)
    for order in (shards, shards[::-1], [shards[2], shards[0], shards[3], shards[1]]):
        counts, _, table = figures(order, precision=precision)
        assert counts.equals(one_counts)  # registers equal byte for byte
        assert table.equals(one_table)
    sketches = one_counts.filter(pl.col("kind").str.ends_with("_sketch"))
    assert sketches.height == 12  # 4 groups x 3 n, each one sketch of 2^p bytes
    assert all(len(r) == 1 << precision for r in sketches["registers"])
    # The sketched distinct-n stays near the exact figure (a few standard errors at this precision).
    exact = figures([rows], precision=PRECISION)[2]
    error = 1.04 / math.sqrt(1 << precision)
    for n in (1, 2, 3):
        ratio = one_table[f"distinct_{n}"] / exact[f"distinct_{n}"]
        assert ((ratio - 1).abs() < 4 * error).all(), (n, ratio.to_list())


def test_register_merge_is_the_sketch_of_the_union():
    a, b = np.array(hashes(30_000, "a"), dtype=np.uint64), np.array(hashes(50_000, "b"), dtype=np.uint64)
    both = np.concatenate([a, b, a[:1000]])
    merged = np.maximum(sketch_registers(a, 12), sketch_registers(b, 12))
    assert (merged == sketch_registers(both, 12)).all()
    assert (sketch_registers(b, 12, sketch_registers(a, 12)) == merged).all()


@pytest.mark.parametrize("precision, true_count", [(10, 800), (10, 5_000), (10, 100_000), (14, 20_000),
                                                    (14, 300_000), (14, 1_000_000)])
def test_estimate_is_within_the_stated_error(precision, true_count):
    registers = sketch_registers(np.array(hashes(true_count), dtype=np.uint64), precision)
    error = 1.04 / math.sqrt(1 << precision)  # relative standard error
    assert abs(sketch_estimate(registers) / true_count - 1) < 3 * error
    assert sketch_estimate(np.zeros(1 << precision, dtype=np.uint8)) == 0.0


def test_estimates_average_out_without_bias():
    # 40 independent sketches of 4,000 hashes at p = 8 (m = 256, two thirds of the way past the exact
    # limit's 2^p in a count frame): the mean error shrinks to a fraction of the standard error.
    estimates = [sketch_estimate(sketch_registers(np.array(hashes(4_000, f"s{i}-"), dtype=np.uint64), 8))
                 for i in range(40)]
    relative = np.array(estimates) / 4_000 - 1
    assert abs(relative.mean()) < 0.03  # 1.04 / 16 / sqrt(40) ~ 0.01
    assert 0.03 < relative.std() < 0.1  # ~ 1.04 / 16 = 0.065


def test_distinct_hashes_stay_bounded():
    state = DistinctHashes(8)
    state.add(hashes(256))
    assert state.exact is not None and state.distinct() == 256  # up to 2^p: exact
    state.add(hashes(256))  # repeats change nothing
    assert state.distinct() == 256
    for start in range(0, 200_000, 10_000):
        state.add(hashes(10_000, f"{start}-"))
    assert state.exact is None and state.registers.nbytes == 256 and len(state._buffer) < 1 << 16
    assert abs(state.distinct() / 200_256 - 1) < 3 * 1.04 / 16


def test_bit_length_is_exact_at_the_float_limits():
    values = [0, 1, 2, 3, 2**52 - 1, 2**53 - 1, 2**53 + 1, 2**63 - 1, 2**63, 2**64 - 1]
    assert _bit_length(np.array(values, dtype=np.uint64)).tolist() == [v.bit_length() for v in values]


def test_a_sketch_of_another_precision_is_refused():
    rows = corpus(60, random.Random(5))
    counts = shard_partials(rows, SEED, 7, 6)[0]
    with pytest.raises(InputError, match="precision 6, report.distinct_ngram_precision is 8"):
        merge_counts([counts], 8)


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

"""Near-duplicate removal across sources: planted copies go, distinct documents stay, the kept copy is the first.

The four MinHash stages run as the workflow's jobs run them (one call per shard, per bucket, once
for the clusters, per shard again), through `dedup_shards` or one by one.
"""

import random
from pathlib import Path

import polars as pl
import pytest

from synthpedia import __version__
from synthpedia.dedup import (
    dedup_buckets_job,
    dedup_clusters_job,
    dedup_filter_job,
    dedup_job,
    dedup_shards,
    dedup_signatures_job,
    minhash_settings,
)
from synthpedia.errors import InputError
from synthpedia.tables import TABLES, table_columns

# The `dedup:` block as the config validation fills it in (64-bit hashes here).
SETTINGS = {"ngram": 5, "buckets": 14, "hashes_per_bucket": 8, "seed": 1, "hash_bits": 64}
# letters only: datatrove's text normalisation strips digits, so "w1" and "w2" would be the same word
VOCAB = sorted({"".join(random.Random(i).choices("abcdefghijklmnopqrstuvwxyz", k=6)) for i in range(3000)})


def document(rng: random.Random, words: int = 300) -> str:
    return " ".join(rng.choice(VOCAB) for _ in range(words))


def edited(text: str, rng: random.Random, fraction: float = 0.02) -> str:
    """A copy with `fraction` of its words replaced at random positions."""
    words = text.split()
    for i in rng.sample(range(len(words)), max(1, round(fraction * len(words)))):
        words[i] = "".join(rng.choices("abcdefghijklmnopqrstuvwxyz", k=7))
    return " ".join(words)


def rows(source, items):
    """items: (prompt_id, text) pairs -> a shard frame with a provenance column to keep untouched."""
    return pl.DataFrame(
        {
            "prompt_id": [p for p, _ in items],
            "source": [source] * len(items),
            "template": [f"{source}/textbook.j2"] * len(items),
            "text": [t for _, t in items],
            "completion_tokens": [len(t.split()) for _, t in items],
        }
    )


@pytest.fixture
def planted(tmp_path):
    """Two sources, three shards (one empty), with planted near-duplicates.

    - khan:p05 is a 2%-edited copy of wiki:p01 (across sources): khan sorts first, so khan:p05 is kept.
    - wiki:p02 and wiki:p09 are edited copies of each other: p02 is kept.
    - a cluster of three: wiki:p03 (original), khan:p07 and khan:p08 (copies): khan:p07 is kept.
    Everything else is distinct.
    """
    rng = random.Random(7)
    base = {k: document(rng) for k in ("A", "B", "C")}
    wiki = [
        ("wiki:p01", base["A"]),
        ("wiki:p02", base["B"]),
        ("wiki:p03", base["C"]),
        ("wiki:p09", edited(base["B"], rng)),
    ] + [(f"wiki:q{i:02d}", document(rng)) for i in range(12)]
    khan_1 = [("khan:p05", edited(base["A"], rng)), ("khan:p08", edited(base["C"], rng))] + [
        (f"khan:q{i:02d}", document(rng)) for i in range(6)
    ]
    khan_2 = [("khan:p07", edited(base["C"], rng))] + [(f"khan:r{i:02d}", document(rng)) for i in range(6)]
    shards = {
        "wiki_0": rows("wikihow", wiki),
        "khan_0": rows("khanacademy", khan_1),
        "khan_1": rows("khanacademy", khan_2),
        "empty": rows("khanacademy", []),
    }
    inputs, outputs = [], []
    for name, df in shards.items():
        df.write_parquet(tmp_path / f"{name}.parquet")
        inputs.append(str(tmp_path / f"{name}.parquet"))
        outputs.append(str(tmp_path / "out" / f"{name}.parquet"))
    return shards, inputs, outputs


REMOVED = {"wiki:p01": "khan:p05", "wiki:p09": "wiki:p02", "wiki:p03": "khan:p07", "khan:p08": "khan:p07"}


def test_planted_near_duplicates_removed_and_first_copy_kept(planted, tmp_path):
    shards, inputs, outputs = planted
    removed_path = tmp_path / "removed.parquet"
    table = dedup_shards(inputs, outputs, SETTINGS, str(tmp_path / "work"), removed_path=str(removed_path))

    for (name, before), out in zip(shards.items(), outputs):
        after = pl.read_parquet(out)
        assert after.schema == before.schema  # columns and types untouched
        # same rows in the same order, minus the removed ones
        assert after.equals(before.filter(~pl.col("prompt_id").is_in(list(REMOVED))))

    removed = pl.read_parquet(removed_path)
    assert tuple(removed.columns) == table_columns("dedup_removed")  # DEDUP_REMOVED_COLUMNS + provenance
    assert dict(zip(removed["prompt_id"], removed["duplicate_of"])) == REMOVED
    assert removed.filter(pl.col("prompt_id") == "wiki:p01")["duplicate_of_source"].to_list() == ["khanacademy"]

    assert table.rows() == [("khanacademy", 15, 1, 14), ("wikihow", 16, 3, 13)]
    assert table.schema == TABLES["dedup"]
    assert not list((tmp_path / "work").iterdir())  # scratch cleaned up


def test_job_writes_stamped_table_and_removed_rows(planted, tmp_path):
    shards, inputs, outputs = planted
    tables = [str(tmp_path / "dedup.csv"), str(tmp_path / "dedup.parquet")]
    dedup_shards(inputs, outputs, SETTINGS, str(tmp_path / "work"), removed_path=str(tmp_path / "removed.parquet"))
    dedup_job(clean=inputs, dataset=outputs, tables=tables, config_hash="cfg123")
    csv, parquet = pl.read_csv(tables[0]), pl.read_parquet(tables[1])
    assert tuple(csv.columns) == tuple(parquet.columns) == table_columns("dedup")
    assert csv.rows() == parquet.rows() == [
        ("khanacademy", 15, 1, 14, "cfg123", __version__),
        ("wikihow", 16, 3, 13, "cfg123", __version__),
    ]
    assert pl.read_parquet(tmp_path / "removed.parquet").height == len(REMOVED)


def test_kept_copy_does_not_depend_on_shard_layout_or_rerun(planted, tmp_path):
    shards, inputs, outputs = planted
    # all rows in one shard, in reverse order: the same documents must go
    merged = pl.concat(list(shards.values())).reverse()
    merged.write_parquet(tmp_path / "all.parquet")
    work = str(tmp_path / "work")
    for _ in range(2):  # a rerun in the same workdir really reruns (no skip_completed leftovers)
        table = dedup_shards([str(tmp_path / "all.parquet")], [str(tmp_path / "all_out.parquet")], SETTINGS, work)
        kept = pl.read_parquet(tmp_path / "all_out.parquet")
        assert set(merged["prompt_id"]) - set(kept["prompt_id"]) == set(REMOVED)
        assert table["removed"].sum() == 4


def test_stage_jobs_one_by_one_leave_no_scratch_of_a_killed_attempt(planted, tmp_path):
    """The workflow's four kinds of jobs, each starting from the junk a killed attempt left in its folder."""
    shards, inputs, outputs = planted
    work = tmp_path / "stages"
    signatures = [str(work / "signatures" / f"{rank}") for rank in range(len(inputs))]
    buckets = [str(work / "buckets" / f"{b:03d}") for b in range(SETTINGS["buckets"])]
    clusters = str(work / "clusters")
    for folder in [signatures[0], buckets[3], clusters]:  # a killed job's leftovers
        Path(folder, "bucket_000").mkdir(parents=True)
        Path(folder, "bucket_000", "00000.minhash.sig").write_bytes(b"torn")
        Path(folder, "00000_00.dups").write_bytes(b"torn")
    for shard, out_dir in zip(inputs, signatures):
        dedup_signatures_job(shard=shard, settings=SETTINGS, out_dir=out_dir)
    for bucket, out_dir in enumerate(buckets):
        dedup_buckets_job(signatures=signatures, bucket=bucket, settings=SETTINGS, out_dir=out_dir)
        assert sorted(p.name for p in Path(out_dir).iterdir()) == [f"{bucket:05d}_00.dups"]
    removed = tmp_path / "removed.parquet"
    dedup_clusters_job(buckets=buckets, signatures=signatures, settings=SETTINGS, out_dir=clusters,
                       removed=str(removed), config_hash="test")
    assert sorted(p.name for p in Path(clusters).iterdir()) == [f"{rank:06d}.remove" for rank in range(len(inputs))]
    assert dict(pl.read_parquet(removed).select("prompt_id", "duplicate_of").iter_rows()) == REMOVED
    for rank, (shard, out) in enumerate(zip(inputs, outputs)):
        dedup_filter_job(shard=shard, rank=rank, clusters=clusters, out_shard=out)
    kept = pl.concat([pl.read_parquet(out) for out in outputs])
    assert set(pl.concat(list(shards.values()))["prompt_id"]) - set(kept["prompt_id"]) == set(REMOVED)


def test_single_document_and_all_empty(tmp_path):
    one = rows("wikihow", [("wiki:only", "just one short document here")])
    one.write_parquet(tmp_path / "one.parquet")
    table = dedup_shards(
        [str(tmp_path / "one.parquet")], [str(tmp_path / "one_out.parquet")], SETTINGS, str(tmp_path)
    )
    assert pl.read_parquet(tmp_path / "one_out.parquet").equals(one)
    assert table.rows() == [("wikihow", 1, 0, 1)]

    pl.DataFrame().write_parquet(tmp_path / "bare.parquet")  # no rows, no columns
    rows("web", []).write_parquet(tmp_path / "empty.parquet")
    table = dedup_shards(
        [str(tmp_path / "bare.parquet"), str(tmp_path / "empty.parquet")],
        [str(tmp_path / "bare_out.parquet"), str(tmp_path / "empty_out.parquet")],
        SETTINGS,
        str(tmp_path),
    )
    assert table.height == 0 and table.schema == TABLES["dedup"]
    assert pl.read_parquet(tmp_path / "empty_out.parquet").schema == rows("web", []).schema


def test_exact_duplicates_short_of_ngram_are_not_touched(tmp_path):
    # fewer words than the n-gram size: no shingles, so never a duplicate (datatrove's rule)
    df = rows("web", [("web:a", "two words"), ("web:b", "two words"), ("web:c", "")])
    df.write_parquet(tmp_path / "s.parquet")
    table = dedup_shards([str(tmp_path / "s.parquet")], [str(tmp_path / "o.parquet")], SETTINGS, str(tmp_path))
    assert pl.read_parquet(tmp_path / "o.parquet").equals(df)
    assert table["removed"].to_list() == [0]


def test_bad_inputs_name_file_and_key(tmp_path):
    df = rows("web", [("web:a", "some text"), ("web:a", "other text")])
    df.write_parquet(tmp_path / "dup.parquet")
    with pytest.raises(InputError, match=r"web:a.*dup\.parquet"):
        dedup_shards([str(tmp_path / "dup.parquet")], [str(tmp_path / "o.parquet")], SETTINGS, str(tmp_path))
    df.drop("text").write_parquet(tmp_path / "notext.parquet")
    with pytest.raises(InputError, match=r"notext\.parquet.*text"):
        dedup_shards([str(tmp_path / "notext.parquet")], [str(tmp_path / "o.parquet")], SETTINGS, str(tmp_path))
    # a block that did not come through the config validation: a key missing, or one unknown
    with pytest.raises(InputError, match=r"config key 'dedup'.*hash_bits"):
        minhash_settings({k: v for k, v in SETTINGS.items() if k != "hash_bits"})
    with pytest.raises(InputError, match="band"):
        minhash_settings({**SETTINGS, "band": 3})
    assert not (tmp_path / "o.parquet").exists()

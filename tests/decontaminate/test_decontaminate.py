"""Decontamination: contaminated generations go, clean ones stay, the answer never depends on hashing."""

from __future__ import annotations

import difflib
import json
import os
import random
import re
import subprocess
import sys
import unicodedata
from pathlib import Path

import polars as pl
import pytest

import synthpedia
from synthpedia import decontaminate as dc
from synthpedia.benchsets import BenchmarkItem, load_benchmark
from synthpedia.decontaminate import hashing
from synthpedia.tables import CONTAMINATION_HIT_COLUMNS, TABLES, table_columns

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "resources" / "benchmarks"

# The original's settings (also the config's defaults); every_item as the tests below expect.
NGRAM = 10
RULE = {"threshold": 0.5, "min_block": 5, "every_item": True}

FILLER = (
    "Plants need light, water and air to grow well in a garden. Gardeners learn to read the soil, "
    "to notice which leaves turn yellow and to plan the seasons with care. A good compost heap "
    "turns kitchen scraps into food for the next crop, and a careful record of what grew where "
    "helps the next year go better than the last one did."
)


def item(benchmark: str, item_id: str, text: str) -> BenchmarkItem:
    return BenchmarkItem(benchmark, item_id, text, text, ("a", "b"), 0)


def shard(*texts: str, source: str = "web") -> pl.DataFrame:
    return pl.DataFrame(
        {"prompt_id": [f"p{k}" for k in range(len(texts))], "source": [source] * len(texts), "text": list(texts)}
    )


@pytest.fixture(scope="module")
def bundled_items() -> list[BenchmarkItem]:
    specs = [
        {"name": "arc_easy", "format": "arc", "path": SAMPLES / "arc_easy/ARC-Easy-Sample.jsonl"},
        {"name": "boolq", "format": "boolq", "path": SAMPLES / "boolq/dev.jsonl"},
        {"name": "hellaswag", "format": "hellaswag", "path": SAMPLES / "hellaswag/validation.jsonl"},
        {"name": "mmlu", "format": "mmlu", "path": SAMPLES / "mmlu"},
        {"name": "piqa", "format": "piqa", "path": SAMPLES / "piqa/valid.jsonl"},
        {"name": "siqa", "format": "siqa", "path": SAMPLES / "siqa/dev.jsonl"},
        {"name": "winogrande", "format": "winogrande", "path": SAMPLES / "winogrande/dev.jsonl"},
        {"name": "openbookqa", "format": "openbookqa", "path": SAMPLES / "openbookqa/Main-Sample.jsonl"},
    ]
    return [it for spec in specs for it in load_benchmark(spec)]


def test_planted_question_removed_clean_and_few_words_kept(bundled_items):
    index = dc.build_index(bundled_items, NGRAM)
    question = next(i for i in bundled_items if i.item_id == "SP-ARCE-002")
    planted = f"{FILLER} {question.text.upper()} {FILLER}"  # case does not hide it
    few_words = f"{FILLER} When a pot of soup is left on the table it cools. {FILLER}"  # 7 shared words
    df = shard(FILLER, planted, few_words)
    clean, hits = dc.decontaminate_shard(df, index, **RULE)
    assert clean.get_column("prompt_id").to_list() == ["p0", "p2"]
    assert clean.columns == df.columns
    assert hits.columns == list(CONTAMINATION_HIT_COLUMNS)
    assert hits.rows() == [("p1", "web", "arc_easy", "SP-ARCE-002", 1.0)]


def test_lightly_edited_copy_with_accents_removed(bundled_items):
    index = dc.build_index(bundled_items, NGRAM)
    hs = next(i for i in bundled_items if i.benchmark == "hellaswag" and i.text.startswith("A man fills a bucket"))
    edited = hs.text.replace("dusty red car", "dústy réd van").replace("He", "Then he")
    clean, hits = dc.decontaminate_shard(shard(f"{FILLER}\n\n{edited}\n\n{FILLER}"), index, **RULE)
    assert clean.height == 0
    (row,) = hits.rows(named=True)
    assert row["item_id"] == hs.item_id and 0.5 < row["ratio"] < 1.0


def test_document_whose_first_found_ngram_belongs_to_another_item_is_still_removed():
    long_item = item(
        "boolq",
        "long",
        "the old lighthouse keeper climbed the narrow stairs every evening to light the great lamp "
        "that guided the small fishing boats past the dark rocks near the harbour during the long "
        "winter storms and the thick grey fog that rolled in from the sea",
    )
    short_item = item("arc", "short", "which simple machine helps a worker lift a heavy crate onto a truck")
    index = dc.build_index([long_item, short_item], NGRAM)
    fragment = " ".join(long_item.text.split()[:16])  # 7 of the long item's 10-grams, ~35% of its text
    doc = f"{FILLER} {fragment}. {FILLER} {short_item.text}? {FILLER}"
    # the published script checks only the item of the first 10-gram it meets: here most likely
    # the long item, whose check fails, so it usually keeps this document
    gen = " ".join(dc.word_tokens(doc))
    assert dc.match_ratio(gen, " ".join(dc.word_tokens(long_item.text)), RULE["min_block"]) <= 0.5
    # most shared n-grams first: the long item (7) is checked before the short one (2)
    assert [items for _, items, _ in dc.candidate_items([doc], index)] == [[0, 1]]
    for every_item in (True, False):
        clean, hits = dc.decontaminate_shard(shard(doc), index, **{**RULE, "every_item": every_item})
        assert clean.height == 0
        assert hits.get_column("item_id").to_list() == ["short"]


def test_every_item_lists_all_items_over_the_threshold():
    sentence = "the piano could not be carried through the old doorway because the _ was too "
    twin_a = item("winogrande", "w1", sentence + "narrow")
    twin_b = item("winogrande", "w2", sentence + "wide")
    index = dc.build_index([twin_a, twin_b], NGRAM)
    doc = f"{FILLER} {twin_b.text.replace('_', 'piano')} {FILLER}"
    clean, hits = dc.decontaminate_shard(shard(doc), index, **RULE)
    assert clean.height == 0 and sorted(hits.get_column("item_id").to_list()) == ["w1", "w2"]
    _, first_only = dc.decontaminate_shard(shard(doc), index, **{**RULE, "every_item": False})
    assert first_only.height == 1


def test_thresholds_and_short_items():
    short = item("piqa", "tiny", "how do you boil an egg")  # under 10 words: never a candidate, as in the original
    long_item = item("arc", "q", "a student drops a rubber ball and a marble from the same height at the same moment")
    index = dc.build_index([short, long_item], NGRAM)
    assert [i.item_id for i in index.items] == ["q"] and index.benchmarks == ["piqa", "arc"]
    doc = f"{FILLER} how do you boil an egg {FILLER} {long_item.text}"
    assert dc.decontaminate_shard(shard(doc), index, **RULE)[0].height == 0
    strict = {**RULE, "threshold": 1.0}
    assert dc.decontaminate_shard(shard(doc), index, **strict)[0].height == 1  # ratio 1.0 is not > 1.0


def test_match_ratio_is_sequence_matcher_block_sum():
    rng = random.Random(3)
    words = FILLER.lower().replace(",", "").replace(".", "").split()
    for _ in range(200):
        gen = " ".join(rng.choices(words, k=rng.randint(5, 80)))
        bench = " ".join(rng.choices(words, k=rng.randint(1, 25)))
        if rng.random() < 0.3:
            cut = rng.randint(0, len(gen))
            gen = gen[:cut] + bench + gen[cut:]  # whole containment: the shortcut path
        blocks = difflib.SequenceMatcher(None, gen, bench, autojunk=False).get_matching_blocks()
        expected = sum(size for _, _, size in blocks if size > 5) / len(bench)
        assert dc.match_ratio(gen, bench, 5) == pytest.approx(expected)


def test_tokens_match_the_plain_definition_on_unicode():
    def plain(text):
        text = "".join(c for c in unicodedata.normalize("NFD", text) if unicodedata.category(c) != "Mn")
        return re.findall(r"\w+", text.lower())

    rng = random.Random(7)
    alphabet = list("abcXYZ 019_.,\n") + ["é", "ß", "İ", "ﬁ", "Σ", "’", "—", "가", "a\u0316\u0301", "\xad", "µ", "Ω"]
    texts = ["".join(rng.choices(alphabet, k=rng.randint(0, 40))) for _ in range(300)]
    batch = hashing.hash_batch(texts, 3)
    for k, text in enumerate(texts):
        first, stop = batch.doc_first_word[k], batch.doc_first_word[k + 1]
        assert list(batch.words(first, stop - first)) == plain(text) == dc.word_tokens(text)
        assert batch.doc_text(k) == " ".join(plain(text))


def test_hash_collisions_never_make_candidates(monkeypatch, bundled_items):
    docs = [FILLER, f"{FILLER} {bundled_items[5].text} {FILLER}", f"{bundled_items[30].text} and more"]
    expected = dc.decontaminate_shard(shard(*docs), dc.build_index(bundled_items, NGRAM), **RULE)
    # every word and n-gram hash collides: only the check on the real words is left
    monkeypatch.setattr(hashing, "mix", lambda x: x * 0)
    index = dc.build_index(bundled_items, NGRAM)
    got = dc.decontaminate_shard(shard(*docs), index, **RULE)
    assert got[0].equals(expected[0]) and got[1].equals(expected[1])
    assert expected[1].height == 2


def straight_removals(docs, items, n=10, threshold=0.5):
    """The published algorithm, written straight: a set of n-grams, the first indexed item met."""
    grams, texts = {}, []
    for it in items:
        toks = dc.word_tokens(it.text)
        found = set(zip(*[toks[i:] for i in range(n)]))
        if found:
            grams.update(dict.fromkeys(found, len(texts)))
            texts.append(" ".join(toks))
    removed = set()
    for k, doc in enumerate(docs):
        toks = dc.word_tokens(doc)
        for gram in set(zip(*[toks[i:] for i in range(n)])):
            if gram in grams:
                gen, bench = " ".join(toks), texts[grams[gram]]
                blocks = difflib.SequenceMatcher(None, gen, bench, autojunk=False).get_matching_blocks()
                match = " ".join("".join(gen[a : a + s] for a, _, s in blocks if s > 5).split())
                if len(match) / len(bench) > threshold:
                    removed.add(k)
                break
    return removed


def test_removes_every_document_the_published_algorithm_removes(bundled_items):
    rng = random.Random(11)
    words = FILLER.split()
    long_items = [i for i in bundled_items if len(i.text.split()) >= 12]
    docs = []
    for k in range(150):
        parts = [" ".join(rng.choices(words, k=rng.randint(30, 120)))]
        if k % 3 == 0:
            chosen = rng.sample(long_items, 2)
            toks = chosen[0].text.split()
            parts.insert(0, " ".join(toks[: rng.randint(10, len(toks))]))  # a prefix of one item
            if k % 2:
                parts.append(chosen[1].text)  # and perhaps a whole other one
        docs.append(" ".join(parts))
    index = dc.build_index(bundled_items, NGRAM)
    _, hits = dc.decontaminate_shard(shard(*docs), index, **RULE)
    ours = {int(p[1:]) for p in hits.get_column("prompt_id").to_list()}
    assert straight_removals(docs, bundled_items) <= ours
    assert all(r > 0.5 for r in hits.get_column("ratio").to_list())
    assert len(ours) >= 25


def test_contamination_table_counts():
    hits = pl.DataFrame(
        {
            "prompt_id": ["a", "a", "b", "c", "d", "e"],
            "source": ["web", "web", "stanford", "stories", "web", "other"],
            "benchmark": ["arc", "boolq", "arc", "arc", "arc", "arc"],
            "item_id": ["q1", "b7", "q1", "q2", "q3", "q9"],
            "ratio": [1.0, 0.8, 0.9, 0.7, 0.6, 1.0],
        }
    )
    groups = {"web + stanford + openstax": ["web", "stanford", "openstax"], "stories": ["stories"]}
    table = dc.contamination_table(hits, groups, ["arc", "boolq", "mmlu"])
    assert table.columns == list(TABLES["contamination"])
    got = {(r["group"], r["benchmark"]): (r["samples_removed"], r["unique_benchmark_items"]) for r in table.to_dicts()}
    assert got == {
        ("web + stanford + openstax", "arc"): (3, 2),  # a, b, d; items q1 (twice), q3
        ("web + stanford + openstax", "boolq"): (1, 1),
        ("web + stanford + openstax", "mmlu"): (0, 0),
        ("stories", "arc"): (1, 1),
        ("stories", "boolq"): (0, 0),
        ("stories", "mmlu"): (0, 0),
    }
    empty = dc.contamination_table(hits.clear(), groups, ["arc"])
    assert empty.get_column("samples_removed").to_list() == [0, 0]


def test_jobs_write_clean_shard_hits_and_stamped_table(tmp_path, bundled_items):
    question = next(i for i in bundled_items if i.item_id == "SP-ARCE-002")
    shard(FILLER, f"{FILLER} {question.text} {FILLER}").write_parquet(tmp_path / "gen.parquet")
    benchmarks = {"arc_easy": {"format": "arc", "path": str(SAMPLES / "arc_easy/ARC-Easy-Sample.jsonl")}}
    dc.decontaminate_job(
        generations=str(tmp_path / "gen.parquet"),
        clean=str(tmp_path / "clean.parquet"),
        removed=str(tmp_path / "removed.parquet"),
        benchmarks=benchmarks,
        ngram=NGRAM,
        **{**RULE, "every_item": False},
    )
    assert pl.read_parquet(tmp_path / "clean.parquet").get_column("prompt_id").to_list() == ["p0"]
    assert pl.read_parquet(tmp_path / "removed.parquet").rows() == [("p1", "web", "arc_easy", "SP-ARCE-002", 1.0)]

    tables = [str(tmp_path / "contamination.csv"), str(tmp_path / "contamination.parquet")]
    groups = {"all": ["web"]}
    dc.contamination_table_job(
        removed=[str(tmp_path / "removed.parquet")], tables=tables, groups=groups, benchmarks=["arc_easy"],
        config_hash="cfg123",
    )
    csv, parquet = pl.read_csv(tables[0]), pl.read_parquet(tables[1])
    assert tuple(csv.columns) == tuple(parquet.columns) == table_columns("contamination")
    assert csv.rows() == parquet.rows() == [("all", "arc_easy", 1, 1, "cfg123", synthpedia.__version__)]


DETERMINISM_SCRIPT = """
import json, sys
import polars as pl
from synthpedia import decontaminate as dc
from synthpedia.benchsets import BenchmarkItem
items = [BenchmarkItem("b", f"i{k}", text, text, ("x",), 0) for k, text in enumerate(json.loads(sys.argv[1]))]
docs = json.loads(sys.argv[2])
df = pl.DataFrame({"prompt_id": [str(k) for k in range(len(docs))], "source": ["web"] * len(docs), "text": docs})
clean, hits = dc.decontaminate_shard(df, dc.build_index(items, 10), threshold=0.5, min_block=5, every_item=False)
print(json.dumps({"kept": clean["prompt_id"].to_list(), "hits": hits.rows()}))
"""


def test_same_result_under_any_pythonhashseed():
    shared = "the students measured how far the toy car rolled down the ramp each time"
    texts = [
        shared + " when the ramp was raised by one book",
        shared + " on carpet compared with a smooth wooden floor",
        "a cup of hot cocoa cools faster when it is poured into a wide shallow bowl on the table",
    ]
    docs = [f"{FILLER} {t} {FILLER}" for t in texts] + [FILLER, f"{shared} and then they wrote it down"]
    outputs = set()
    for seed in ("0", "1", "12345", "random"):
        env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(ROOT / "src")}
        result = subprocess.run(
            [sys.executable, "-c", DETERMINISM_SCRIPT, json.dumps(texts), json.dumps(docs)],
            capture_output=True, text=True, env=env, check=True,
        )
        outputs.add(result.stdout)
    assert len(outputs) == 1
    out = json.loads(outputs.pop())
    assert "3" in out["kept"] and not {"0", "1", "2"} & set(out["kept"])
    assert [row[3] for row in out["hits"]][:3] == ["i0", "i1", "i2"]


def test_missing_column_is_an_input_error(bundled_items):
    with pytest.raises(synthpedia.errors.InputError, match="no column 'text'"):
        dc.decontaminate_shard(
            pl.DataFrame({"prompt_id": ["a"], "source": ["web"]}), dc.build_index(bundled_items, NGRAM), **RULE
        )

"""Decontamination speed and safety against the published algorithm written straight.

    python benchmarks/decontamination.py [--docs 10000] [--seed 0] [--planted 0.04]

Builds seeded synthetic generations of 300-800 words from a word list, a few %
of them with planted benchmark items (verbatim, lightly edited, sharing only a
few words, or a fragment of one long item followed by another item in full),
then runs on the same documents, in this one process (one core):
- the baseline: the published Cosmopedia algorithm written straight (a set of
  10-gram tuples per document, the first benchmark item met, one difflib
  SequenceMatcher);
- synthpedia.decontaminate (build_index + decontaminate_shard).
It checks that the project removes every document the baseline removes, lists
the extra removals with their ratio, and prints docs/s per core for each and
the speed-up. Benchmark items come from ../shared/data when present (the test
splits of all benchmarks), else from resources/benchmarks.
"""

from __future__ import annotations

import os

# One core: polars and any BLAS must not spread over threads for this measure.
for _var in ("POLARS_MAX_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import difflib  # noqa: E402
import itertools  # noqa: E402
import random  # noqa: E402
import re  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import unicodedata  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import polars as pl  # noqa: E402

from synthpedia import decontaminate  # noqa: E402
from synthpedia.benchsets import load_benchmark  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"
# The published script's settings (the config's defaults too), used by both sides of the comparison.
NGRAM, THRESHOLD, MIN_BLOCK = 10, 0.5, 5


def benchmark_specs() -> tuple[str, list[dict]]:
    if SHARED.is_dir():
        d = SHARED
        return "../shared/data (test/dev splits)", [
            {"name": "arc", "format": "arc", "path": d / "arc/ARC-Easy-Test.jsonl"},
            {"name": "arc", "format": "arc", "path": d / "arc/ARC-Challenge-Test.jsonl"},
            {"name": "boolq", "format": "boolq", "path": d / "boolq/val.jsonl"},
            {"name": "hellaswag", "format": "hellaswag", "path": d / "hellaswag/hellaswag_val_full.txt.bz2"},
            {"name": "mmlu", "format": "mmlu", "path": d / "mmlu/test"},
            {"name": "piqa", "format": "piqa", "path": d / "piqa/valid.jsonl"},
            {"name": "siqa", "format": "siqa", "path": d / "siqa/dev.jsonl"},
            {"name": "winogrande", "format": "winogrande", "path": d / "winogrande/dev.jsonl"},
            {"name": "openbookqa", "format": "openbookqa", "path": d / "openbookqa/Main_test.jsonl"},
        ]
    r = ROOT / "resources" / "benchmarks"
    return "resources/benchmarks", [
        {"name": "arc", "format": "arc", "path": r / "arc_easy/ARC-Easy-Sample.jsonl"},
        {"name": "boolq", "format": "boolq", "path": r / "boolq/dev.jsonl"},
        {"name": "hellaswag", "format": "hellaswag", "path": r / "hellaswag/validation.jsonl"},
        {"name": "mmlu", "format": "mmlu", "path": r / "mmlu"},
        {"name": "piqa", "format": "piqa", "path": r / "piqa/valid.jsonl"},
        {"name": "siqa", "format": "siqa", "path": r / "siqa/dev.jsonl"},
        {"name": "winogrande", "format": "winogrande", "path": r / "winogrande/dev.jsonl"},
        {"name": "openbookqa", "format": "openbookqa", "path": r / "openbookqa/Main-Sample.jsonl"},
    ]


# --- the published algorithm, written straight --------------------------------------------


def straight_tokenize(text):
    text = "".join(c for c in unicodedata.normalize("NFD", text) if unicodedata.category(c) != "Mn")
    return re.findall(r"\w+", text.lower())


def straight_ngrams(tokens, n):
    return set(zip(*[tokens[i:] for i in range(n)]))


class StraightDecontaminator:
    def __init__(self, texts, n):
        self.n, self.texts, self.ngrams = n, [], {}
        for text in texts:
            grams = straight_ngrams(straight_tokenize(text), n)
            if grams:
                idx = len(self.texts)
                self.ngrams.update(zip(grams, [idx] * len(grams)))  # the last item wins
                self.texts.append(text)

    def first_candidate(self, doc):
        for gram in straight_ngrams(straight_tokenize(doc), self.n):  # set order: PYTHONHASHSEED
            if gram in self.ngrams:
                return self.ngrams[gram]
        return None

    def ratio(self, doc, idx):
        gen = " ".join(straight_tokenize(doc))
        bench = " ".join(straight_tokenize(self.texts[idx]))
        blocks = difflib.SequenceMatcher(None, gen.lower(), bench.lower(), autojunk=False).get_matching_blocks()
        parts = [gen[a : a + size] for a, _, size in blocks if size > MIN_BLOCK]
        match = " ".join("".join(parts).split())
        return len(match) / len(bench) if bench else 0.0

    def removed(self, docs, threshold):
        out = {}
        for k, doc in enumerate(docs):
            idx = self.first_candidate(doc)
            if idx is not None:
                r = self.ratio(doc, idx)
                if r > threshold:
                    out[k] = (idx, r)
        return out


# --- synthetic generations ------------------------------------------------------------------


def make_docs(n_docs, items, seed, planted_rate):
    rng = random.Random(seed)
    # the benchmark texts' own words, most frequent first, drawn with Zipf-like weights
    counts = {}
    for it in items:
        for w in re.findall(r"[A-Za-z]+", it.text):
            counts[w.lower()] = counts.get(w.lower(), 0) + 1
    vocab = sorted(counts, key=lambda w: (-counts[w], w))
    cum_weights = list(itertools.accumulate(1.0 / (rank + 1) for rank in range(len(vocab))))
    # planted items: a benchmark drawn uniformly, then one of its items of 14+ words
    long_items = {}
    for it in items:
        if len(it.text.split()) >= 14:
            long_items.setdefault(it.benchmark, []).append(it)
    benches = sorted(long_items)
    very_long = [it for it in items if len(it.text.split()) >= 30]
    flourishes = ["\u2019s", " \u2014 ", " caf\u00e9 ", " na\u00efve ", "\u201cquoted\u201d"]

    def sentence():
        words = rng.choices(vocab, cum_weights=cum_weights, k=rng.randint(6, 18))
        words[0] = words[0].capitalize()
        if rng.random() < 0.3:
            words.insert(rng.randrange(1, len(words)), ",")
        return " ".join(words).replace(" ,", ",") + "."

    docs, kinds = [], []
    for _ in range(n_docs):
        target = rng.randint(300, 800)
        sentences, count = [], 0
        while count < target:
            s = sentence()
            sentences.append(s)
            count += s.count(" ") + 1
        kind = "clean"
        if rng.random() < planted_rate:
            kind = rng.choices(["verbatim", "edited", "few_words", "fragment_then_item"], [4, 3, 2, 1])[0]
            item = rng.choice(long_items[rng.choice(benches)])
            words = item.text.split()
            if kind == "verbatim":
                planted = item.text
            elif kind == "edited":
                words = list(words)
                for _ in range(max(1, len(words) // 15)):
                    words[rng.randrange(len(words))] = rng.choice(vocab)
                planted = " ".join(words)
            elif kind == "few_words":
                k = rng.randint(4, 7)
                start = rng.randrange(0, len(words) - k)
                planted = " ".join(words[start : start + k])
            else:
                other = rng.choice(very_long)
                planted = " ".join(other.text.split()[:12]) + ". " + item.text
            sentences.insert(rng.randrange(len(sentences) + 1), planted)
        if rng.random() < 0.3:  # real generations often carry curly quotes, dashes, accents
            k = rng.randrange(len(sentences))
            sentences[k] = sentences[k] + rng.choice(flourishes)
        text = "\n\n".join(" ".join(sentences[i : i + 5]) for i in range(0, len(sentences), 5))
        docs.append(text)
        kinds.append(kind)
    return docs, kinds


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--planted", type=float, default=0.04, help="share of documents with a planted item")
    args = parser.parse_args(argv)

    where, specs = benchmark_specs()
    items = [item for spec in specs for item in load_benchmark(spec)]
    docs, kinds = make_docs(args.docs, items, args.seed, args.planted)
    words = sum(d.count(" ") + d.count("\n") // 2 + 1 for d in docs) / len(docs)
    print(f"benchmarks: {len(items)} items from {where}")
    print(f"documents: {len(docs)}, about {words:.0f} words each; planted: "
          + ", ".join(f"{k} {kinds.count(k)}" for k in ("verbatim", "edited", "few_words", "fragment_then_item")))
    print(f"project SequenceMatcher: {decontaminate.SEQUENCE_MATCHER}; baseline: difflib")

    # baseline
    t0 = time.process_time()
    straight = StraightDecontaminator([it.text for it in items], NGRAM)
    t1 = time.process_time()
    base_removed = straight.removed(docs, THRESHOLD)
    t2 = time.process_time()
    base_rate = len(docs) / (t2 - t1)
    print(f"baseline: index {t1 - t0:.1f} s, {len(straight.ngrams):,} distinct {NGRAM}-grams; "
          f"{t2 - t1:.1f} s CPU -> {base_rate:,.0f} docs/s/core; removed {len(base_removed)}")

    # project, both reporting modes (the same rows are removed by each)
    df = pl.DataFrame({
        "prompt_id": [f"doc{k:06d}" for k in range(len(docs))],
        "source": ["web"] * len(docs),
        "text": docs,
    })
    t0 = time.process_time()
    index = decontaminate.build_index(items, ngram=NGRAM)
    t1 = time.process_time()
    print(f"project:  index {t1 - t0:.1f} s, {len(index.hashes):,} (n-gram, item) hashes")
    failed = False
    for every_item in (True, False):
        t1 = time.process_time()
        clean, hits = decontaminate.decontaminate_shard(
            df, index, threshold=THRESHOLD, min_block=MIN_BLOCK, every_item=every_item
        )
        t2 = time.process_time()
        rate = len(docs) / (t2 - t1)
        removed = {int(p[3:]) for p in hits.get_column("prompt_id").to_list()}
        mode = "every item over the threshold" if every_item else "first item over the threshold"
        print(f"project ({mode}): {t2 - t1:.2f} s CPU -> {rate:,.0f} docs/s/core; removed {len(removed)} "
              f"({hits.height} hit rows, {hits.get_column('item_id').n_unique()} items); kept {clean.height}")
        print(f"  speed-up (docs/s per core, project / baseline): {rate / base_rate:.1f}x")
        missed = sorted(set(base_removed) - removed)
        if missed:
            print(f"  FAIL: the project kept {len(missed)} documents the baseline removes: {missed[:20]}")
            failed = True
        if not every_item:
            continue
        per_doc = hits.group_by("prompt_id").len()
        fan = per_doc.filter(pl.col("len") > 100)
        if fan.height:
            print(f"  {fan.height} documents have more than 100 items over the threshold ({fan['len'].sum()} of the "
                  f"{hits.height} SequenceMatcher hits): items sharing a long preamble (MMLU moral scenarios)")
        by_kind = {k: sum(1 for d in removed if kinds[d] == k) for k in sorted(set(kinds))}
        print("  removed by planted kind: " + ", ".join(f"{k} {v}" for k, v in by_kind.items()))
        extra = sorted(removed - set(base_removed))
        if extra:
            print(f"  extra removals by the project ({len(extra)}), each over {THRESHOLD} against some item:")
            best = hits.sort("ratio", descending=True).unique("prompt_id", keep="first")
            best = dict(zip(best["prompt_id"].to_list(), zip(best["ratio"].to_list(), best["item_id"].to_list())))
            for d in extra[:25]:
                ratio, item_id = best[f"doc{d:06d}"]
                first = straight.first_candidate(docs[d])
                why = "baseline found no candidate" if first is None else (
                    f"baseline checked another item (ratio {straight.ratio(docs[d], first):.2f})")
                print(f"    doc{d:06d} ({kinds[d]}): ratio {ratio:.3f} vs {item_id}; {why}")
            if len(extra) > 25:
                print(f"    ... and {len(extra) - 25} more")
    if failed:
        return 1
    print("OK: the project removes every document the baseline removes")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The curation chain at scale: peak RSS and seconds per 1k documents of every rule, through Snakemake.

    python benchmarks/scale.py --docs 10000 [--docs-per-shard 10000] [--keep DIR]

Builds N synthetic documents of ~500 words from the real text in ../shared/data
(OpenStax, Common Crawl extracts, GPTeacher, benchmark passages), 1% of them
near-duplicate copies, and runs the rules seeds -> prompts (plan + shard jobs)
-> decontamination -> the four dedup stages -> tokenizer -> tokenisation in a
scratch copy of the workflow, on one source (AutoMathText: one prompt per
document, N / docs-per-shard shards).

BENCHMARK MODE, generation replayed: no model runs. After the prompt shards
exist, each generation shard is written by this script from the prompts and
the documents their seeds came from (the document is the completion), and the
later rules run with `--rerun-triggers mtime`, so Snakemake takes the replayed
shards as made. Nothing of this mode exists in the workflow or its configs.

Prints, per rule, its jobs, the peak RSS of its largest job and its seconds per
1k documents (all its jobs summed), from Snakemake's own files under
logs/benchmarks/<rule>/ (rules without a benchmark file, e.g. seeds, are listed
as such). Compare runs at 10k, 100k and 1M documents: a sharded rule's peak RSS
should stay flat and its seconds per 1k documents constant.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
sys.path.insert(0, str(ROOT / "src"))

import polars as pl
import yaml

from synthpedia.io import write_parquet
from synthpedia.tables import FAILED_COLUMNS, GENERATION_COLUMNS, GENERATION_INT_COLUMNS

WORKFLOW_FILES = ("Snakefile", "config.yaml", "rules", "scripts", "src", "templates", "resources", "schemas",
                  "profiles", "report", "envs", "config")
SNAKEMAKE = str(Path(sys.executable).parent / "snakemake")
SOURCE = "automathtext"


def text_pool() -> list[str]:
    """Words of real text from ../shared/data, in reading order."""
    if not SHARED.is_dir():
        sys.exit(f"benchmarks/scale.py: {SHARED} is absent: it builds its documents from that real text")
    texts = []
    for path in sorted(SHARED.glob("openstax_*/modules/*/index.cnxml")):
        texts.append(re.sub(r"<[^>]+>", " ", path.read_text(errors="ignore")))
    for path in sorted(SHARED.glob("web_cc_text_sample/*.jsonl")):
        texts += [json.loads(line)["text"] for line in path.read_text().splitlines() if line.strip()]
    for path in sorted(SHARED.glob("instruct_gpteacher/*.json")):
        texts += [f"{r.get('instruction', '')} {r.get('response', '')}" for r in json.loads(path.read_text())]
    for path in sorted(SHARED.glob("boolq/*.jsonl")):
        texts += [json.loads(line)["passage"] for line in path.read_text().splitlines() if line.strip()]
    return " ".join(texts).split()


def documents(n: int, seed: int = 0) -> list[str]:
    """`n` documents of 300-700 words, each of 10-25 runs of 20-40 consecutive words taken from all over
    the pool (so that distinct documents share few 5-grams); 1% are 2%-edited copies of earlier ones."""
    words, rng = text_pool(), random.Random(seed)
    docs = []
    for i in range(n):
        if i > 100 and rng.random() < 0.01:
            copy = docs[rng.randrange(i)].split()
            for j in rng.sample(range(len(copy)), max(1, len(copy) // 50)):
                copy[j] = rng.choice(words)
            docs.append(" ".join(copy))
            continue
        target, parts = rng.randrange(300, 700), []
        while sum(len(p) for p in parts) < target:
            start, size = rng.randrange(len(words) - 40), rng.randrange(20, 40)
            parts.append(words[start:start + size])
        docs.append(" ".join(w for part in parts for w in part))
    return docs


def workflow_copy(dest: Path, n: int, docs_per_shard: int) -> list[str]:
    """The workflow in `dest` with its benchmark preset and inputs; returns the documents."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in WORKFLOW_FILES:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, dest / name)
    docs = documents(n)
    data = dest / "data" / "docs.jsonl"
    data.parent.mkdir(parents=True)
    with data.open("w") as fh:
        for i, doc in enumerate(docs):
            fh.write(json.dumps({"text": doc, "url": f"https://bench.example/{i}"}) + "\n")
    default = yaml.safe_load((ROOT / "config.yaml").read_text())
    preset = {
        "preset": {"name": "scale-benchmark", "shared": ["audiences", "benchmarks"]},
        "seed": 42,
        "offline": True,
        "sources": {SOURCE: {"files": [str(data.relative_to(dest))], "shards": max(1, n // docs_per_shard),
                             "max_prompts": None, "audiences": ["general"], "styles": ["college"],
                             "extract_chars": 1000}},
        "tokenizer": default["tokenizer"],
    }
    (dest / "scale.yaml").write_text(yaml.safe_dump(preset))
    return docs


def snakemake(work: Path, targets: list[str], *options: str) -> None:
    """Run Snakemake on `targets` in the copy `work` with its benchmark preset (targets first: see README)."""
    command = [SNAKEMAKE, *targets, "-d", str(work), "-s", str(work / "Snakefile"), "--cores", "2", *options,
               "--configfile", "scale.yaml"]
    proc = subprocess.run(command, cwd=work, capture_output=True, text=True, check=False)
    if proc.returncode:
        sys.exit(f"snakemake {' '.join(targets)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")


def replay_generations(work: Path, docs: list[str]) -> None:
    """BENCHMARK MODE: each prompt shard's generation shard, the completion being its seed's document."""
    seeds = pl.read_parquet(work / "results" / "seeds" / f"{SOURCE}.parquet", columns=["seed_id", "url"])
    doc_of = {sid: docs[int(url.rsplit("/", 1)[1])] for sid, url in seeds.iter_rows()}
    for prompts in sorted((work / "results" / "prompts" / SOURCE).glob("*.parquet")):
        frame = pl.read_parquet(prompts)
        texts = [doc_of[s] for s in frame["seed_id"]]
        out = frame.with_columns(
            pl.col("prompt_id").alias("request_key"), pl.lit("replay").alias("model"), pl.lit("replay").alias("backend"),
            pl.lit("{}").alias("sampling"), pl.lit(0).alias("gen_seed"), pl.Series("completion", texts),
            pl.Series("text", texts), pl.col("prompt").str.len_chars().floordiv(4).alias("prompt_tokens"),
            pl.Series("completion_tokens", [len(t) // 4 for t in texts]), pl.lit("stop").alias("finish_reason"),
            pl.lit(0.0).alias("seconds"),
        ).with_columns(pl.col(c).cast(pl.Int64) for c in GENERATION_INT_COLUMNS).select(GENERATION_COLUMNS)
        target = work / "results" / "generations" / SOURCE / prompts.name
        write_parquet(out, str(target))
        write_parquet(out.head(0).with_columns(pl.lit("").alias("reason")).select(FAILED_COLUMNS),
                      str(target.with_suffix(".failed.parquet")))
        target.with_suffix(".stats.json").write_text(json.dumps({"replay": True, "prompts": out.height}))


def rule_figures(work: Path, n: int) -> list[tuple[str, int, float, float, float]]:
    """(rule, jobs, peak RSS MB of its largest job, wall and CPU seconds per 1k documents) from logs/benchmarks."""
    rows = []
    for folder in sorted((work / "logs" / "benchmarks").iterdir()):
        files = list(folder.rglob("*.tsv"))
        frames = [pl.read_csv(f, separator="\t", null_values=["NA", "-"], infer_schema_length=0) for f in files]
        if not frames:
            continue
        both = pl.concat([f.select(pl.col(c).cast(pl.Float64) for c in ("s", "max_rss", "cpu_time")) for f in frames])
        per_k = n / 1000
        rows.append((folder.name, len(files), float(both["max_rss"].max() or 0), float(both["s"].sum()) / per_k,
                     float(both["cpu_time"].sum()) / per_k))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, default=10_000)
    parser.add_argument("--docs-per-shard", type=int, default=10_000)
    parser.add_argument("--keep", type=Path, help="run here and keep it (default: a temporary folder)")
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="synthpedia-scale-"))
    start = time.monotonic()
    docs = workflow_copy(work, args.docs, args.docs_per_shard)
    built = time.monotonic()
    prompt_targets = [f"results/prompts/{SOURCE}/{s:03d}.parquet"
                      for s in range(max(1, args.docs // args.docs_per_shard))]
    snakemake(work, prompt_targets)
    replay_generations(work, docs)
    snakemake(work, ["results/tables/dedup.csv", f"results/tokens/{SOURCE}/stats.json"], "--rerun-triggers", "mtime")
    wall = time.monotonic() - built
    dedup = pl.read_csv(work / "results" / "tables" / "dedup.csv")
    print(f"{args.docs:,} documents ({args.docs_per_shard:,} per shard), inputs built in {built - start:.0f} s, "
          f"workflow {wall:.0f} s; dedup removed {dedup['removed'].sum():,}")
    # Wall seconds depend on what else the cores run; CPU seconds less so.
    print(f"{'rule':<20} {'jobs':>5} {'peak RSS MB':>12} {'s / 1k docs':>12} {'CPU s / 1k':>11}")
    for rule, jobs, rss, wall_k, cpu_k in rule_figures(work, args.docs):
        print(f"{rule:<20} {jobs:>5} {rss:>12.0f} {wall_k:>12.2f} {cpu_k:>11.2f}")
    print("without a benchmark file: seeds")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

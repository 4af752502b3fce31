"""Column sets of every table the workflow writes: one place, imported everywhere.

A stage adds columns to the rows it receives and never renames them, so every
final row still carries its prompt, template, seed and source (provenance).
"""

# results/seeds/{source}.parquet: these plus the source's own fields.
SEED_COLUMNS = ("seed_id", "source")

# results/prompts/{source}/{shard}.parquet
PROMPT_COLUMNS = (
    "prompt_id",  # hash of source, seed_id, template, audience, variant
    "source",
    "seed_id",
    "template",  # template file, relative to templates/, e.g. "openstax/textbook.j2"
    "style",
    "audience",
    "variant",  # e.g. "plain" / "with_extract"
    "prompt",
)

# results/generations/{source}/{shard}.parquet (and the clean / dataset shards after it)
GENERATION_COLUMNS = PROMPT_COLUMNS + (
    "request_key",  # hash(prompt, model, sampling, seed): the ledger key
    "model",
    "backend",
    "sampling",  # JSON of the sampling parameters
    "gen_seed",
    "completion",  # raw model output
    "text",  # completion with stock openers removed: what curation and training see
    "prompt_tokens",
    "completion_tokens",
    "finish_reason",
    "seconds",
)

# results/generations/{source}/{shard}.failed.parquet
FAILED_COLUMNS = GENERATION_COLUMNS + ("reason",)

# results/clean/{source}/{shard}.removed.parquet: one row per (generation, benchmark item) hit
CONTAMINATION_HIT_COLUMNS = (
    "prompt_id",
    "source",
    "benchmark",
    "item_id",
    "ratio",
)

# results/tables/contamination.csv
CONTAMINATION_TABLE_COLUMNS = (
    "group",
    "benchmark",
    "samples_removed",
    "unique_benchmark_items",
    "config_hash",
    "version",
)

# results/tables/dedup.csv
DEDUP_TABLE_COLUMNS = ("source", "documents_in", "removed", "kept", "config_hash", "version")

# results/tables/eval.csv
EVAL_TABLE_COLUMNS = ("run", "task", "metric", "value", "stderr", "chance", "config_hash", "version")

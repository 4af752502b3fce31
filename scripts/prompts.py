import _paths  # noqa: F401 (puts src/ on the path)
from synthpedia.logs import log_to

log_to(snakemake.log[0])

import polars as pl  # noqa: E402

from synthpedia.io import write_parquet  # noqa: E402
from synthpedia.prompts import build_prompt_shards  # noqa: E402

p = snakemake.params
frames = build_prompt_shards(
    p.source, pl.read_parquet(snakemake.input.seeds), p.spec, p.audiences, p.seed, p.templates_dir
)
for frame, path in zip(frames, snakemake.output, strict=True):
    write_parquet(frame, path)

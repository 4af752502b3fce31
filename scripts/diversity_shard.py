import _paths  # noqa: F401 (puts src/ on the path)
from synthpedia.logs import log_to
from synthpedia.runtime import prepare_job

log_to(snakemake.log[0])
prepare_job(offline=snakemake.config["offline"], threads=snakemake.threads)

from synthpedia.diversity import diversity_shard_job  # noqa: E402

p = snakemake.params
diversity_shard_job(
    rows=snakemake.input[0], out_counts=snakemake.output.counts, out_sample=snakemake.output.sample,
    out_examples=snakemake.output.examples, seed=p.seed, sample_size=p.sample_size,
    examples_per_group=p.examples_per_group, precision=p.precision,
)

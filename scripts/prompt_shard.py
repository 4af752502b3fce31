import _paths  # noqa: F401 (puts src/ on the path)
from synthpedia.logs import log_to

log_to(snakemake.log[0])

from synthpedia.prompt_shards import prompt_shard_job  # noqa: E402

p = snakemake.params
prompt_shard_job(
    source=snakemake.wildcards.source, shard=int(snakemake.wildcards.shard),
    seeds_path=snakemake.input.seeds, index_path=snakemake.input.index, spec=p.spec, audiences=p.audiences,
    seed=p.seed, templates_dir=p.templates_dir, out_shard=snakemake.output[0],
)

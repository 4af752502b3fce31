import _paths  # noqa: F401 (puts src/ on the path)
from synthpedia.logs import log_to

log_to(snakemake.log[0])

from synthpedia.plan import plan_job, shards_by_source  # noqa: E402

p = snakemake.params
print(
    plan_job(
        seeds=shards_by_source(snakemake.input.seeds), prompts=shards_by_source(snakemake.input.prompts),
        estimated=p.estimated, specs=p.specs, plan=p.plan, model=p.model, max_tokens=p.max_tokens,
        vocab_size=p.vocab_size, config_hash=p.config_hash, tables=[snakemake.output[0]],
    )
)

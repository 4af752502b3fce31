import _paths  # noqa: F401 (puts src/ on the path)
from synthpedia.logs import log_to
from synthpedia.runtime import prepare_job

log_to(snakemake.log[0])
prepare_job(offline=snakemake.config["offline"], threads=snakemake.threads)

from synthpedia.evaluate import eval_table_job  # noqa: E402

p = snakemake.params
eval_table_job(
    results=dict(zip(p.runs, snakemake.input.results, strict=True)),
    tables=list(snakemake.output),
    config_hash=p.config_hash,
    removed=list(snakemake.input.removed),
    groups=p.groups,
    benchmarks=p.benchmarks,
)

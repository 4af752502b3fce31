import _paths  # noqa: F401 (puts src/ on the path)
from synthpedia.logs import log_to
from synthpedia.runtime import prepare_job

log_to(snakemake.log[0])
# Before torch is imported: MiniLM runs on the job's threads, offline when the config says so.
prepare_job(offline=snakemake.config["offline"], threads=snakemake.threads)

from synthpedia.diversity import diversity_table_job  # noqa: E402

p = snakemake.params
diversity_table_job(
    counts=list(snakemake.input.counts), samples=list(snakemake.input.samples),
    out_table=snakemake.output.table, out_figure=snakemake.output.figure, sample_size=p.sample_size,
    threshold=p.threshold, precision=p.precision, threads=snakemake.threads, config_hash=p.config_hash,
)

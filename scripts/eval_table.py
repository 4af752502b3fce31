import _paths  # noqa: F401 (puts src/ on the path)
from synthpedia.logs import log_to

log_to(snakemake.log[0])

from synthpedia.evaluate import eval_table_job  # noqa: E402

eval_table_job(
    dict(zip(snakemake.params.runs, snakemake.input, strict=True)),
    snakemake.output[0],
    snakemake.params.config_hash,
)

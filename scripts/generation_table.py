import _paths  # noqa: F401 (puts src/ on the path)
from synthpedia.logs import log_to

log_to(snakemake.log[0])

from synthpedia.generate import generation_table_job  # noqa: E402

generation_table_job(
    stats_paths=list(snakemake.input),
    out_csv=snakemake.output[0],
    config_hash=snakemake.params.config_hash,
)

import _paths  # noqa: F401 (puts src/ on the path)
from synthpedia.logs import log_to

log_to(snakemake.log[0])

from synthpedia.report import prompt_mix_job  # noqa: E402

prompt_mix_job(list(snakemake.input), snakemake.output.table, snakemake.output.figure, snakemake.params.config_hash)

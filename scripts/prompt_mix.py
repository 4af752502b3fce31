import _paths  # noqa: F401 (puts src/ on the path)
from synthpedia.logs import log_to

log_to(snakemake.log[0])

from synthpedia.report import prompt_mix_job  # noqa: E402

prompt_mix_job(
    prompt_paths=list(snakemake.input),
    out_csv=snakemake.output.table,
    out_png=snakemake.output.figure,
    config_hash=snakemake.params.config_hash,
)

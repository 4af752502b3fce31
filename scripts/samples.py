import _paths  # noqa: F401 (puts src/ on the path)
from synthpedia.logs import log_to

log_to(snakemake.log[0])

from synthpedia.report.samples import samples_job  # noqa: E402

p = snakemake.params
samples_job(
    candidates=list(snakemake.input), out_table=snakemake.output.table, out_html=snakemake.output.page,
    per_group=p.per_group, config_hash=p.config_hash,
)

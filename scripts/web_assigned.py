import _paths  # noqa: F401 (puts src/ on the path)
from synthpedia.logs import log_to

log_to(snakemake.log[0])

from synthpedia.web.assign import web_assigned_job  # noqa: E402

web_assigned_job(parts=list(snakemake.input), out_seeds=snakemake.output[0])

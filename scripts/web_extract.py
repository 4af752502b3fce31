import _paths  # noqa: F401 (puts src/ on the path)
from synthpedia.logs import log_to

log_to(snakemake.log[0])

from synthpedia.web import extract_job  # noqa: E402

extract_job(snakemake.params.spec, snakemake.output[0])

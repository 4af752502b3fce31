import _paths  # noqa: F401 (puts src/ on the path)
from synthpedia.logs import log_to
from synthpedia.runtime import prepare_job

log_to(snakemake.log[0])
prepare_job(offline=snakemake.config["offline"], threads=snakemake.threads)

from synthpedia.web.extract import web_extract_job  # noqa: E402

web_extract_job(files=list(snakemake.input), spec=snakemake.params.spec, out_docs=snakemake.output[0])

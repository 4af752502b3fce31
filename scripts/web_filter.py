import _paths  # noqa: F401 (puts src/ on the path)
from synthpedia.logs import log_to
from synthpedia.runtime import prepare_job

log_to(snakemake.log[0])
prepare_job(offline=snakemake.config["offline"], threads=snakemake.threads)

from synthpedia.web.filter import web_filter_job  # noqa: E402

p, out = snakemake.params, snakemake.output
web_filter_job(
    docs_path=snakemake.input[0], spec=p.spec, config_hash=p.config_hash, out_docs=out.docs, out_stats_csv=out.stats
)

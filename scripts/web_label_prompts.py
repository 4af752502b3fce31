import _paths  # noqa: F401 (puts src/ on the path)
from synthpedia.logs import log_to
from synthpedia.runtime import prepare_job

log_to(snakemake.log[0])
prepare_job(offline=snakemake.config["offline"], threads=snakemake.threads)

from synthpedia.web.label import web_label_prompts_job  # noqa: E402

inp, p = snakemake.input, snakemake.params
web_label_prompts_job(
    docs_path=inp.docs, clusters_path=inp.clusters, spec=p.spec, seed=p.seed, out_prompts=snakemake.output[0]
)

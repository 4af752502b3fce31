import _paths  # noqa: F401 (puts src/ on the path)
from synthpedia.logs import log_to
from synthpedia.runtime import prepare_job

log_to(snakemake.log[0])
prepare_job(offline=snakemake.config["offline"], threads=snakemake.threads)

from synthpedia.web.assign import web_assign_job  # noqa: E402

inp = snakemake.input
web_assign_job(
    docs_path=inp.docs, embeddings_path=inp.embeddings, centroids_path=inp.centroids, topics_path=inp.topics,
    part=int(snakemake.wildcards.part), parts=snakemake.params.parts, spec=snakemake.params.spec,
    out_seeds=snakemake.output[0],
)

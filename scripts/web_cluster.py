import _paths  # noqa: F401 (puts src/ on the path)
from synthpedia.logs import log_to
from synthpedia.runtime import prepare_job

log_to(snakemake.log[0])
prepare_job(offline=snakemake.config["offline"], threads=snakemake.threads)

from synthpedia.web.cluster import web_cluster_job  # noqa: E402

p, out = snakemake.params, snakemake.output
web_cluster_job(
    embeddings_path=list(snakemake.input), spec=p.spec, seed=p.seed, threads=snakemake.threads,
    out_clusters=out.clusters, out_centroids=out.centroids,
)

import _paths  # noqa: F401 (puts src/ on the path)
from synthpedia.logs import log_to

log_to(snakemake.log[0])

from synthpedia.web import cluster_job  # noqa: E402

cluster_job(
    snakemake.input[0],
    snakemake.params.spec,
    snakemake.params.seed,
    snakemake.output.clusters,
    snakemake.output.centroids,
)

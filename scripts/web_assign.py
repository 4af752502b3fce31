import _paths  # noqa: F401 (puts src/ on the path)
from synthpedia.logs import log_to

log_to(snakemake.log[0])

from synthpedia.web import assign_job  # noqa: E402

assign_job(
    snakemake.input.docs,
    snakemake.input.embeddings,
    snakemake.input.centroids,
    snakemake.input.topics,
    snakemake.params.spec,
    snakemake.output[0],
)

import _paths  # noqa: F401 (puts src/ on the path)
from synthpedia.logs import log_to
from synthpedia.runtime import prepare_job

log_to(snakemake.log[0])
prepare_job(offline=snakemake.config["offline"], threads=snakemake.threads)

from synthpedia.dedup import dedup_clusters_job  # noqa: E402

dedup_clusters_job(
    buckets=list(snakemake.input.buckets), signatures=list(snakemake.input.signatures),
    settings=snakemake.params.dedup, out_dir=snakemake.output.clusters, removed=snakemake.output.removed,
    config_hash=snakemake.params.config_hash,
)

import _paths  # noqa: F401 (puts src/ on the path)
from synthpedia.logs import log_to
from synthpedia.runtime import prepare_job

log_to(snakemake.log[0])
prepare_job(offline=snakemake.config["offline"], threads=snakemake.threads)

from synthpedia.dedup import dedup_filter_job  # noqa: E402

dedup_filter_job(
    shard=snakemake.input.shard,
    rank=snakemake.params.rank,
    clusters=snakemake.input.clusters,
    out_shard=snakemake.output[0],
)

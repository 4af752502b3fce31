import _paths  # noqa: F401 (puts src/ on the path)
from synthpedia.logs import log_to
from synthpedia.runtime import prepare_job

log_to(snakemake.log[0])
prepare_job(offline=snakemake.config["offline"], threads=snakemake.threads)

from synthpedia.dedup import dedup_buckets_job  # noqa: E402

dedup_buckets_job(
    signatures=list(snakemake.input),
    bucket=int(snakemake.wildcards.bucket),
    settings=snakemake.params.dedup,
    out_dir=snakemake.output[0],
)

import _paths  # noqa: F401 (puts src/ on the path)
from synthpedia.logs import log_to

if __name__ == "__main__":  # datatrove starts workers with forkserver: guard the entry point
    log_to(snakemake.log[0])

    from synthpedia.dedup import dedup_job

    dedup_job(
        list(snakemake.input),
        list(snakemake.output.shards),
        snakemake.output.table,
        snakemake.output.removed,
        snakemake.params.dedup,
        snakemake.params.workdir,
        snakemake.params.config_hash,
        workers=snakemake.threads,
    )

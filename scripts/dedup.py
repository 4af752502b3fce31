import _paths  # noqa: F401 (puts src/ on the path)
from synthpedia.logs import log_to
from synthpedia.runtime import prepare_job

if __name__ == "__main__":  # datatrove starts workers with forkserver: guard the entry point
    log_to(snakemake.log[0])
    prepare_job(offline=snakemake.config["offline"], threads=snakemake.threads)

    from synthpedia.dedup import dedup_job

    p = snakemake.params
    dedup_job(
        inputs=list(snakemake.input),
        outputs=list(snakemake.output.shards),
        tables=[snakemake.output.table],
        removed=snakemake.output.removed,
        settings=p.dedup,
        workdir=p.workdir,
        config_hash=p.config_hash,
        workers=snakemake.threads,
    )

import _paths  # noqa: F401 (puts src/ on the path)
from synthpedia.logs import log_to

if __name__ == "__main__":  # datatrove starts workers with forkserver: guard the entry point
    log_to(snakemake.log[0])

    from synthpedia.tokens import tokenize_job

    tokenize_job(
        list(snakemake.input.shards),
        snakemake.input.tokenizer,
        snakemake.output.tokens,
        snakemake.output.stats,
        snakemake.params.workdir,
        snakemake.wildcards.source,
        snakemake.params.seed,
    )

import os

import _paths  # noqa: F401 (puts src/ on the path)
from synthpedia.logs import log_to
from synthpedia.runtime import prepare_job

if __name__ == "__main__":  # datatrove starts workers with forkserver: guard the entry point
    log_to(snakemake.log[0])
    # encode_batch runs on tokenizers' thread pool, which prepare_job sizes to the job's threads
    # but turns off unless told otherwise: datatrove runs this job's one task in-process.
    os.environ["TOKENIZERS_PARALLELISM"] = "true"
    prepare_job(offline=snakemake.config["offline"], threads=snakemake.threads)

    from synthpedia.tokens import tokenize_job

    tokenize_job(
        dataset_paths=list(snakemake.input.shards),
        tokenizer_path=snakemake.input.tokenizer,
        out_dir=snakemake.output.tokens,
        stats_path=snakemake.output.stats,
        workdir=snakemake.params.workdir,
        source=snakemake.wildcards.source,
        seed=snakemake.params.seed,
    )

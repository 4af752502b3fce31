import _paths  # noqa: F401 (puts src/ on the path)
from synthpedia.logs import log_to
from synthpedia.runtime import prepare_job

if __name__ == "__main__":  # datatrove starts workers with forkserver: guard the entry point
    log_to(snakemake.log[0])
    # encode_batch runs in-process (datatrove's one task) on the job's threads.
    prepare_job(offline=snakemake.config["offline"], threads=snakemake.threads, parallel_tokenizers=True)

    from synthpedia.tokens import tokenize_job

    inp, out, p = snakemake.input, snakemake.output, snakemake.params
    # rule tokenize: one curated shard of a source; rule tokenize_external: one parquet file of an
    # external mixture member (text column only).
    name = snakemake.wildcards.get("external") or snakemake.wildcards.get("source")
    tokenize_job(
        dataset_paths=[inp.shard], tokenizer_path=inp.tokenizer, source=name, name=p.name, external=p.external,
        seed=p.seed, workdir=p.workdir, out_dir=out.tokens, stats_path=out.stats,
    )

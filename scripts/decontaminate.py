import _paths  # noqa: F401 (puts src/ on the path)
from synthpedia.logs import log_to
from synthpedia.runtime import prepare_job

log_to(snakemake.log[0])
prepare_job(offline=snakemake.config["offline"], threads=snakemake.threads)

from synthpedia.decontaminate import decontaminate_job  # noqa: E402

p = snakemake.params
decontaminate_job(
    generations=snakemake.input.generations, clean=snakemake.output.clean, removed=snakemake.output.removed,
    benchmarks=p.benchmarks, ngram=p.ngram, threshold=p.threshold, min_block=p.min_block,
    every_item=p.every_item,
)

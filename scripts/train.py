import _paths  # noqa: F401 (puts src/ on the path)
from synthpedia.logs import log_to

log_to(snakemake.log[0])

from synthpedia.train import train_job  # noqa: E402

p = snakemake.params
train_job(
    dict(zip(p.sources, snakemake.input.tokens, strict=True)),
    p.mixture,
    snakemake.input.tokenizer,
    snakemake.output.checkpoint,
    snakemake.output.loss,
    p.run,
    p.seed,
    threads=snakemake.threads,
)

import _paths  # noqa: F401 (puts src/ on the path)
from synthpedia.logs import log_to

log_to(snakemake.log[0])

from synthpedia.evaluate import evaluate_checkpoint  # noqa: E402

p = snakemake.params
evaluate_checkpoint(
    snakemake.input.checkpoint,
    dict(zip(p.tasks, snakemake.input.tasks, strict=True)),
    snakemake.output[0],
    max_samples=p.evaluation["max_samples"],
    batch_size=p.evaluation["batch_size"],
    seed=p.seed,
    threads=snakemake.threads,
)

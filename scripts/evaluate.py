import _paths  # noqa: F401 (puts src/ on the path)
from synthpedia.logs import log_to
from synthpedia.runtime import prepare_job

log_to(snakemake.log[0])
# Before torch is imported: its thread pools are sized from the job's threads.
prepare_job(offline=snakemake.config["offline"], threads=snakemake.threads)

from synthpedia.evaluate import evaluate_job  # noqa: E402

p = snakemake.params
evaluate_job(
    checkpoint=snakemake.input.checkpoint, tasks=dict(zip(p.tasks, snakemake.input.tasks, strict=True)),
    results=snakemake.output[0], max_samples=p.max_samples, max_new_tokens=p.max_new_tokens,
    batch_size=p.batch_size, seed=p.seed, threads=snakemake.threads,
)

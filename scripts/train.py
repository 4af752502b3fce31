import _paths  # noqa: F401 (puts src/ on the path)
from synthpedia.logs import log_to
from synthpedia.runtime import prepare_job

log_to(snakemake.log[0])
# Before torch is imported: its thread pools are sized from the job's threads.
prepare_job(offline=snakemake.config["offline"], threads=snakemake.threads)

from synthpedia.train import train_job  # noqa: E402

p = snakemake.params
train_job(
    token_dirs=dict(zip(p.sources, snakemake.input.tokens, strict=True)),
    tokenizer_json=snakemake.input.tokenizer, mixture=p.mixture, run=p.run, seed=p.seed,
    checkpoint_dir=snakemake.output.checkpoint, loss_csv=snakemake.output.loss, threads=snakemake.threads,
    config_hash=p.config_hash, state_dir=p.state_dir, log_file=snakemake.log[0],
)

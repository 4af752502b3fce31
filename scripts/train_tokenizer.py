import _paths  # noqa: F401 (puts src/ on the path)
from synthpedia.logs import log_to
from synthpedia.runtime import prepare_job

log_to(snakemake.log[0])
# BPE training runs in-process on the job's threads; this job forks nothing.
prepare_job(offline=snakemake.config["offline"], threads=snakemake.threads, parallel_tokenizers=True)

from synthpedia.tokens import train_tokenizer_job  # noqa: E402

train_tokenizer_job(
    dataset_paths=list(snakemake.input),
    out_path=snakemake.output.tokenizer,
    params=snakemake.params.tokenizer,
    seed=snakemake.params.seed,
)

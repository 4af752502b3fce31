import os

import _paths  # noqa: F401 (puts src/ on the path)
from synthpedia.logs import log_to
from synthpedia.runtime import prepare_job

log_to(snakemake.log[0])
# BPE training runs on tokenizers' thread pool, which prepare_job sizes to the job's threads
# but turns off unless told otherwise: this job forks nothing, so let it run.
os.environ["TOKENIZERS_PARALLELISM"] = "true"
prepare_job(offline=snakemake.config["offline"], threads=snakemake.threads)

from synthpedia.tokens import train_tokenizer_job  # noqa: E402

train_tokenizer_job(
    dataset_paths=list(snakemake.input),
    out_path=snakemake.output[0],
    params=snakemake.params.tokenizer,
)

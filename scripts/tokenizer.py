import _paths  # noqa: F401 (puts src/ on the path)
from synthpedia.logs import log_to

log_to(snakemake.log[0])

from synthpedia.tokens import tokenizer_job  # noqa: E402

tokenizer_job(list(snakemake.input), snakemake.output[0], snakemake.params.tokenizer)

import _paths  # noqa: F401 (puts src/ on the path)
from synthpedia.logs import log_to
from synthpedia.runtime import prepare_job

log_to(snakemake.log[0])
prepare_job(offline=snakemake.config["offline"])

from synthpedia.tokens import pretrained_tokenizer_job  # noqa: E402

pretrained_tokenizer_job(
    pretrained=snakemake.params.pretrained, out_path=snakemake.output.tokenizer, offline=snakemake.config["offline"],
)

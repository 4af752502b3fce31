import _paths  # noqa: F401 (puts src/ on the path)
from synthpedia.logs import log_to

log_to(snakemake.log[0])

from synthpedia.tokens import check_token_folder  # noqa: E402

name = snakemake.wildcards.external
check_token_folder(
    snakemake.input.tokens, snakemake.input.tokenizer, key=f"train.mixture.{name}.tokens", name=name,
    pretrained=snakemake.params.pretrained, out_path=snakemake.output[0], config_hash=snakemake.params.config_hash,
)

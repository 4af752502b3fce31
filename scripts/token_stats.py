import _paths  # noqa: F401 (puts src/ on the path)
from synthpedia.logs import log_to

log_to(snakemake.log[0])

from synthpedia.tokens import merge_token_stats  # noqa: E402

name = snakemake.wildcards.get("external") or snakemake.wildcards.get("source")
merge_token_stats(
    list(snakemake.input.stats), list(snakemake.input.tokens), snakemake.output[0], name=name,
    config_hash=snakemake.params.config_hash,
)

import _paths  # noqa: F401 (puts src/ on the path)
from synthpedia.logs import log_to

log_to(snakemake.log[0])

from synthpedia.io import write_parquet  # noqa: E402
from synthpedia.seeds import load_seeds  # noqa: E402

write_parquet(load_seeds(snakemake.wildcards.source, snakemake.params.spec), snakemake.output[0])

import _paths  # noqa: F401 (puts src/ on the path)
from synthpedia.logs import log_to

log_to(snakemake.log[0])

from synthpedia.runtime import prepare_job  # noqa: E402

prepare_job(offline=snakemake.config["offline"])

from synthpedia.seeds import seeds_job  # noqa: E402


def _files(value):
    return [value] if isinstance(value, str) else list(value)


seeds_job(
    source=snakemake.wildcards.source,
    spec=snakemake.params.spec,
    reads={name: _files(getattr(snakemake.input, name)) for name in snakemake.params.reads},
    out_seeds=snakemake.output[0],
)

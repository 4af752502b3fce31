import _paths  # noqa: F401 (puts src/ on the path)
from synthpedia.logs import log_to

log_to(snakemake.log[0])

from synthpedia.decontaminate import decontaminate_job  # noqa: E402

decontaminate_job(
    snakemake.input.generations,
    snakemake.output.clean,
    snakemake.output.removed,
    snakemake.params.decontamination,
    snakemake.params.benchmarks,
)

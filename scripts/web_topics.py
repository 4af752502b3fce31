import _paths  # noqa: F401 (puts src/ on the path)
from synthpedia.logs import log_to

log_to(snakemake.log[0])

from synthpedia.web import topics_job  # noqa: E402

p = snakemake.params
topics_job(snakemake.input.labels, snakemake.input.clusters, p.spec, p.seed, snakemake.output.table, snakemake.output.figure)

import _paths  # noqa: F401 (puts src/ on the path)
from synthpedia.logs import log_to

log_to(snakemake.log[0])

from synthpedia.web import label_job  # noqa: E402

p = snakemake.params
label_job(snakemake.input[0], p.spec, p.generation, p.seed, snakemake.output[0], p.ledger, threads=snakemake.threads)

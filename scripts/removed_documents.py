import _paths  # noqa: F401 (puts src/ on the path)
from synthpedia.logs import log_to

log_to(snakemake.log[0])

from synthpedia.report.provenance import removed_documents_job  # noqa: E402

removed_documents_job(
    removed=list(snakemake.input.removed), generations=list(snakemake.input.generations),
    out_table=snakemake.output.table, out_html=snakemake.output.page,
    config_hash=snakemake.params.config_hash,
)

import _paths  # noqa: F401 (puts src/ on the path)
from synthpedia.logs import log_to

log_to(snakemake.log[0])

from synthpedia.report.plots import figures_job  # noqa: E402

figures_job(
    losses=list(snakemake.input.losses), runs=snakemake.params.runs, evals=snakemake.input.evals or None,
    generation=snakemake.input.generation, contamination=snakemake.input.contamination,
    out_loss=snakemake.output.loss, out_eval=snakemake.output.eval,
    out_throughput=snakemake.output.throughput, out_contamination=snakemake.output.contamination,
)

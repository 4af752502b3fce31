import _paths  # noqa: F401 (puts src/ on the path)
from synthpedia.logs import log_to
from synthpedia.runtime import prepare_job

log_to(snakemake.log[0])
prepare_job(offline=snakemake.config["offline"], threads=snakemake.threads)

from synthpedia.web.label import web_label_job  # noqa: E402

p = snakemake.params
web_label_job(
    prompts_path=snakemake.input[0],
    spec=p.spec,
    # The whole section: params.generation holds only what decides the outputs.
    generation=snakemake.config["generation"],
    seed=p.seed,
    threads=snakemake.threads,
    gpus=snakemake.resources.get("gpu", 0),
    ledger=p.ledger,
    out_labels=snakemake.output[0],
)

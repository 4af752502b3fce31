import _paths  # noqa: F401 (puts src/ on the path)
from synthpedia.logs import log_to

log_to(snakemake.log[0])

from synthpedia.runtime import prepare_job  # noqa: E402

prepare_job(offline=snakemake.config["offline"], threads=snakemake.threads)

from synthpedia.generate import generate_job  # noqa: E402

generate_job(
    prompts_path=snakemake.input[0],
    generations_path=snakemake.output.generations,
    failed_path=snakemake.output.failed,
    stats_path=snakemake.output.stats,
    ledger_path=snakemake.params.ledger,
    # The whole section: params.generation holds only what decides the outputs.
    generation=snakemake.config["generation"],
    seed=snakemake.params.seed,
    answer_schema=snakemake.params.answer_schema,
    threads=snakemake.threads,
    gpus=snakemake.resources.get("gpu", 0),
)

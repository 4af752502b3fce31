import _paths  # noqa: F401 (puts src/ on the path)
from synthpedia.logs import log_to

log_to(snakemake.log[0])

from synthpedia.dataset import dataset_export_job  # noqa: E402

p = snakemake.params
dataset_export_job(
    shards=list(snakemake.input.shards), dedup=snakemake.input.dedup,
    contamination=snakemake.input.contamination, diversity=snakemake.input.diversity,
    out_dir=snakemake.output.export, out_page=snakemake.output.page, settings=p.settings,
    generation=p.generation, seed=p.seed, config_hash=p.config_hash, command=p.command,
)

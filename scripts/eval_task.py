import _paths  # noqa: F401 (puts src/ on the path)
from synthpedia.logs import log_to

log_to(snakemake.log[0])

from synthpedia.benchsets import load_benchmark, write_eval_task  # noqa: E402

write_eval_task(load_benchmark(snakemake.params.spec), snakemake.output[0])

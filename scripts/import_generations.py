import _paths  # noqa: F401 (puts src/ on the path)
from synthpedia.logs import log_to

log_to(snakemake.log[0])

from synthpedia.generate.imported import import_job  # noqa: E402

import_job(
    schema=snakemake.params.schema,
    input_path=snakemake.input[0],
    output_path=snakemake.output[0],
    source=snakemake.wildcards.source,
    spec=snakemake.params.spec,
)

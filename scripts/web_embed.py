import _paths  # noqa: F401 (puts src/ on the path)
from synthpedia.logs import log_to
from synthpedia.runtime import prepare_job

log_to(snakemake.log[0])
prepare_job(offline=snakemake.config["offline"], threads=snakemake.threads)

from synthpedia.web.embed import web_embed_job  # noqa: E402

web_embed_job(
    docs_path=snakemake.input[0], part=int(snakemake.wildcards.part), parts=snakemake.params.parts,
    spec=snakemake.params.spec, threads=snakemake.threads, out_embeddings=snakemake.output[0],
)

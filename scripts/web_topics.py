import _paths  # noqa: F401 (puts src/ on the path)
from synthpedia.logs import log_to
from synthpedia.runtime import prepare_job

log_to(snakemake.log[0])
prepare_job(offline=snakemake.config["offline"], threads=snakemake.threads)

from synthpedia.web.topics import web_topics_job  # noqa: E402

inp, p, out = snakemake.input, snakemake.params, snakemake.output
web_topics_job(
    labels_path=inp.labels, clusters_path=inp.clusters, spec=p.spec, seed=p.seed, config_hash=p.config_hash,
    out_topics=out.topics, out_csv=out.table, out_png=out.figure,
)

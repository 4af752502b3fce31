"""The steps of a nanotron train job around nanotron's own trainer (rule train_nanotron).

The rule runs, in one job on the GPUs it got::

    python -m synthpedia.train.nanotron_job config '<spec>'    # nanotron.yaml from the config
    torchrun --nproc-per-node <gpus> <run_train.py> --config-file <work>/nanotron.yaml
    python -m synthpedia.train.nanotron_job convert '<spec>'   # last checkpoint -> transformers folder + loss table

`<spec>` is one JSON object: run (the run's config section), mixture, seed,
token_dirs {source: folder or its tokens stats.json}, tokenizer (the tokenizer the tokens were made
with), work (the run's folder for the YAML and nanotron's checkpoints),
checkpoint (the output folder), loss (the loss table), log (the job's log),
config_hash, threads and offline.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from pathlib import Path

import polars as pl

from synthpedia.errors import InputError

log = logging.getLogger(__name__)

# nanotron's step line: "iteration: 12 / 140000 | ... | lm_loss: 3.21 | ..." (values in its human format)
_STEP_LINE = re.compile(r"iteration: (\d+) / \d+ .*?\| lm_loss: ([-+0-9.eE]+)")


def write_config(spec: dict) -> dict:
    """nanotron's YAML for the run, its checkpoints under ``<work>/checkpoints``; returns the config."""
    from synthpedia.train.nanotron import nanotron_config

    run = spec["run"]
    p = run["params"]
    ranks = p["dp"] * p["tp"] * p["pp"]
    if ranks != max(1, run["gpus"]):
        raise InputError(f"config key 'train.runs.{spec.get('name')}': dp x tp x pp = {ranks} processes, but "
                         f"torchrun starts one per GPU of the job ({run['gpus']})")
    from synthpedia.train.data import expand_token_manifests

    weights = {source: float(spec["mixture"].get(source, 1.0)) for source in spec["token_dirs"]}
    # nanotron reads folders: a source's shard folders each get their share of its weight.
    token_dirs, weights = expand_token_manifests(spec["token_dirs"], weights)
    data = {
        "token_dirs": token_dirs,
        "weights": weights,
        "tokenizer": spec["tokenizer"],
        "seed": spec["seed"],
        "run": spec.get("name", "run"),
        "checkpoints_path": str(Path(spec["work"]) / "checkpoints"),
    }
    return nanotron_config(run["params"], data, spec["work"])


def loss_from_log(text: str, params: dict) -> pl.DataFrame:
    """The loss table of a nanotron run from its log: one row per logged step (last one wins)."""
    from synthpedia.tables import TABLES
    from synthpedia.train.params import lr_at, tokens_per_step

    losses = {int(step): float(loss) for step, loss in _STEP_LINE.findall(text)}
    if not losses:
        raise InputError("nanotron: no 'iteration: N / M | ... | lm_loss: X' line in the job's log")
    per_step = tokens_per_step(params)
    rows = [(s, losses[s], lr_at(s - 1, params), s * per_step, None) for s in sorted(losses)]
    return pl.DataFrame(rows, schema=list(TABLES["loss"]), orient="row")


def convert(spec: dict) -> None:
    """The last nanotron checkpoint as the run's transformers folder, and the loss table from the job's log."""
    from synthpedia.tables import write_table
    from synthpedia.train.nanotron_hf import latest_nanotron_step, nanotron_to_hf

    run = spec["run"]
    step = latest_nanotron_step(Path(spec["work"]) / "checkpoints")
    nanotron_to_hf(step, spec["tokenizer"], spec["checkpoint"])
    losses = loss_from_log(Path(spec["log"]).read_text(encoding="utf-8", errors="replace"), run["params"])
    write_table(losses, "loss", spec["config_hash"], spec["loss"])


def main(argv: list[str]) -> None:
    from synthpedia.logs import log_to
    from synthpedia.runtime import prepare_job

    if len(argv) != 2 or argv[0] not in ("config", "convert"):
        raise SystemExit("usage: python -m synthpedia.train.nanotron_job config|convert '<spec json>'")
    spec = json.loads(argv[1])
    log_to(spec["log"])
    prepare_job(offline=spec["offline"], threads=spec["threads"])
    if argv[0] == "config":
        write_config(spec)
    else:
        convert(spec)


if __name__ == "__main__":
    main(sys.argv[1:])

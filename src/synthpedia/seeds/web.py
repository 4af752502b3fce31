"""Web seeds: the assigned web documents (topic, style, extract), made by the web topic rules.

The seed table is read from `reads["assigned"]`, the web_assign rule's output.
Each kept topic maps to textbook, blogpost or wikihow; a textbook topic becomes
the narrative or the academic textbook style by a hash of the seed id, and a
seeded coin adds "within the context of <topic>" to `topic_fraction` of prompts.
"""

from __future__ import annotations

import polars as pl

from ..errors import InputError
from ..ids import stable_hash


def _assigned():
    from ..web.assign import WEB_SEED_COLUMNS, load_web_seeds

    return WEB_SEED_COLUMNS, load_web_seeds


def __getattr__(name: str):
    # COLUMNS lives with the web assignment step; looked up on use so this module imports light.
    if name == "COLUMNS":
        return _assigned()[0]
    raise AttributeError(name)


def load_seeds(spec: dict, reads: dict[str, list[str]]) -> pl.DataFrame:
    """The web seed table from the web_assign rule's output."""
    (path,) = reads["assigned"]
    return _assigned()[1](path)


def prompt_contexts(row: dict, spec: dict, seed: int, styles: tuple[str, ...]):
    """A web seed's topic style -> one prompt style; a seeded coin adds the topic.

    textbook -> textbook_narrative or textbook_academic by a hash of the seed id
    (fixed per seed); the topic coin is a hash of (config seed, seed id) only, so
    changing the config seed flips coins and changes nothing else.
    """
    style = row["style"]
    if style == "textbook":
        style = ("textbook_narrative", "textbook_academic")[int(stable_hash("textbook_style", row["seed_id"]), 16) % 2]
    elif style not in ("blogpost", "wikihow"):
        raise InputError(f"prompts/web: seed {row['seed_id']} has unknown style '{style}'")
    coin = int(stable_hash("topic_coin", seed, row["seed_id"]), 16) / 16**16
    with_topic = coin < spec["topic_fraction"]
    yield style, "with_topic" if with_topic else "plain", {
        "extract": row["extract"],
        "topic": row["topic"] if with_topic else "",
    }

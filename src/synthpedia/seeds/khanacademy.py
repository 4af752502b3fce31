"""Khan Academy seeds: course -> unit -> lesson, read from a topic tree.

The input is Khan Academy's topic tree as JSON (the format of KA Lite's
``topics.json``): nested nodes, each with a ``kind`` ("Topic" for a folder of
the tree, "Video", "Exercise", ... for content) and a ``title`` (exercises may
give ``display_name`` instead), topics with their ``children`` in order. The
file holds either the root node (whose own title names the whole tree and is
not part of any path) or a list of top-level topics.

A *lesson* is a topic with no topic among its children: the level a learner
works through. Its parent topic is its *unit*, the unit's parent its *course*,
and the topics above the course (e.g. "Math") its ``subject``. A lesson
without a course above it (one or two levels under the top) is skipped and
counted. Each seed also carries the titles of the lessons before it in the
same unit and the titles of its own videos and exercises.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import polars as pl

from ..errors import InputError
from ..io import stable_hash
from ..tables import SEED_COLUMNS
from .records import last_items, normalise_space

log = logging.getLogger(__name__)

SOURCE = "khanacademy"
TOPIC_KIND = "Topic"

# results/seeds/khanacademy.parquet, in this order.
KHANACADEMY_SCHEMA = {
    "seed_id": pl.String,
    "source": pl.String,
    "subject": pl.String,  # topics above the course joined with " / " ("" when the course is top-level)
    "course": pl.String,
    "unit": pl.String,
    "lesson": pl.String,
    "lesson_index": pl.Int32,  # 1-based position among the unit's topics
    "previous_lessons": pl.List(pl.String),  # titles of the unit's topics before this lesson
    "items": pl.List(pl.String),  # titles of the lesson's videos, exercises, ... in order
}
KHANACADEMY_COLUMNS = tuple(KHANACADEMY_SCHEMA)
assert KHANACADEMY_COLUMNS[: len(SEED_COLUMNS)] == SEED_COLUMNS


def _node_title(node: dict) -> str:
    for key in ("title", "display_name"):
        value = node.get(key)
        if isinstance(value, str) and value.strip():
            return normalise_space(value)
    return ""


def load_khanacademy(path: str | Path) -> pl.DataFrame:
    """Read a topic tree into one row per lesson (columns: KHANACADEMY_COLUMNS), in tree order.

    ``seed_id`` is a hash of (source, the titles and child positions from the
    top down to the lesson), so it does not depend on where the file lives. Raises InputError naming the
    file and the node (by its path of titles and child positions) for: a
    missing or malformed JSON file, a node that is not an object or has no
    ``kind``, a topic without title, ``children`` that is not a list, and a
    tree without any lesson.
    """
    path = Path(path)
    who = "seeds/khanacademy"
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except FileNotFoundError:
        raise InputError(f"{who}: topic tree not found ({path})") from None
    except UnicodeDecodeError:
        raise InputError(f"{who}: topic tree is not valid UTF-8 ({path})") from None
    except json.JSONDecodeError as exc:
        raise InputError(
            f"{who}: topic tree is not valid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg} ({path})"
        ) from None
    except OSError as exc:
        raise InputError(f"{who}: cannot read topic tree: {exc.strerror} ({path})") from None

    if isinstance(data, dict):
        _check_node(data, "the root node", path)
        top = _children(data, "the root node", path)
    elif isinstance(data, list):
        top = data
    else:
        raise InputError(f"{who}: expected the root topic or a list of topics, found {type(data).__name__} ({path})")

    rows: list[dict] = []
    too_shallow = 0

    def walk(nodes: list, titles: list[str], positions: list[int], where: str) -> None:
        nonlocal too_shallow
        topics: list[tuple[int, dict, str]] = []  # (position, node, its name in errors)
        for position, node in enumerate(nodes, start=1):
            node_where = f"{where} > child {position}" if where else f"top-level node {position}"
            _check_node(node, node_where, path)
            if node["kind"] == TOPIC_KIND:
                title = _node_title(node)
                if not title:
                    raise InputError(f"{who}: {node_where} is a topic without title ({path})")
                topics.append((position, node, f"{where} > '{title}'" if where else f"'{title}'"))
        topic_titles = [_node_title(node) for _, node, _ in topics]
        for index, (position, node, node_where) in enumerate(topics, start=1):
            title = topic_titles[index - 1]
            children = _children(node, node_where, path)
            for child_position, child in enumerate(children, start=1):
                _check_node(child, f"{node_where} > child {child_position}", path)
            if any(child["kind"] == TOPIC_KIND for child in children):
                walk(children, titles + [title], positions + [position], node_where)
                continue
            # A lesson: its parent is the unit, the unit's parent the course.
            if len(titles) < 2:
                too_shallow += 1
                continue
            rows.append(
                {
                    "seed_id": stable_hash(SOURCE, titles + [title], positions + [position]),
                    "source": SOURCE,
                    "subject": " / ".join(titles[:-2]),
                    "course": titles[-2],
                    "unit": titles[-1],
                    "lesson": title,
                    "lesson_index": index,
                    "previous_lessons": topic_titles[: index - 1],
                    "items": [t for t in (_node_title(child) for child in children) if t],
                }
            )

    walk(top, [], [], "")
    if not rows:
        raise InputError(
            f"{who}: no lessons (topics without sub-topics, two levels below a course) in the tree ({path})"
        )
    if too_shallow:
        log.info("%s: %d topics without a course above them skipped (%s)", who, too_shallow, path)
    log.info("%s: %d lessons (%s)", who, len(rows), path)
    return pl.DataFrame(rows, schema=KHANACADEMY_SCHEMA, orient="row")


def _check_node(node: object, where: str, path: Path) -> None:
    if not isinstance(node, dict):
        raise InputError(f"seeds/khanacademy: {where} is {type(node).__name__}, expected an object ({path})")
    if not isinstance(node.get("kind"), str) or not node["kind"]:
        raise InputError(f"seeds/khanacademy: {where} has no 'kind' ({path})")


def _children(node: dict, where: str, path: Path) -> list:
    children = node.get("children")
    if children is None:
        return []
    if not isinstance(children, list):
        raise InputError(
            f"seeds/khanacademy: {where}: 'children' is {type(children).__name__}, expected a list ({path})"
        )
    return children

# ----------------------------------------------------------------------------- registry interface

COLUMNS = KHANACADEMY_COLUMNS


def load_seeds(spec: dict, reads: dict[str, list[str]]) -> pl.DataFrame:
    """The khanacademy seed table from config section `sources.khanacademy`."""
    return load_khanacademy(spec["topics"])


def prompt_contexts(row: dict, spec: dict, seed: int, styles: tuple[str, ...]):
    """One textbook prompt per lesson item (video or exercise title), as the original made them.

    Each names the course, the unit, the lesson, the lessons of the unit already
    covered and the lesson's items already written. Only the first `max_items`
    items of a lesson get a prompt (variants ``item01``, ``item02``, ...); a
    lesson without items gets one prompt for the lesson itself (``plain``).
    """
    keep = spec["max_previous_lessons"]
    base = {
        "course": row["course"],
        "unit": row["unit"],
        "lesson": row["lesson"],
        "previous_lessons": last_items(row["previous_lessons"], keep),
    }
    items = list(row["items"] or [])[: spec["max_items"]]
    if not items:
        yield "textbook", "plain", {**base, "item": "", "previous_items": []}
        return
    for index, item in enumerate(items, start=1):
        yield "textbook", f"item{index:02d}", {**base, "item": item, "previous_items": last_items(items[: index - 1], keep)}

"""Web topics: extraction, quality filters, clusters, LLM labels, topic table, seeds, prompts."""

from __future__ import annotations

import copy
import json
import re
import time
from pathlib import Path

import numpy as np
import polars as pl
import pytest

import synthpedia.web
from synthpedia.errors import InputError
from synthpedia.generate import Backend, Completion, GenerationLedger, request_key
from synthpedia.prompts import render_prompts
from synthpedia.registry import load_schema, registry
from synthpedia.seeds import load_seeds
from synthpedia.tables import TABLES, table_columns
from synthpedia.web.assign import WEB_SEED_COLUMNS, assign_web_seeds, web_assign_job
from synthpedia.web.cluster import NOISE, cluster, web_cluster_job
from synthpedia.web.embed import embed, load_embedder, web_embed_job
from synthpedia.web.extract import extract_web, web_extract_job
from synthpedia.web.filter import web_filter, web_filter_job
from synthpedia.web.label import (
    LABEL_JSON_SCHEMA,
    LABEL_SCHEMA,
    label_clusters,
    label_prompts,
    parse_json_label,
    parse_label,
    read_label,
    web_label_job,
    web_label_prompts_job,
)
from synthpedia.web.topics import topic_style, topic_table, web_topics_job
from synthpedia.workflow import web_input_files

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
BUNDLED = ROOT / "resources" / "web"
THEMES = ("astronomy", "bread", "gambling", "travel")  # file name prefixes of the bundled pages
SMALL_CLUSTERING = {"n_neighbors": 8, "min_dist": 0.0, "n_components": 2, "min_cluster_size": 4, "min_samples": 2}
FILTERS = {"c4_quality": {"filter_no_terminal_punct": False}}
THREADS = 1  # the test machine's cores are shared


def with_schema_defaults(schema: dict, instance: dict) -> dict:
    """`instance` with the schema's `default:` values filled in, at every object level."""
    for name, sub in schema.get("properties", {}).items():
        if name not in instance and "default" in sub:
            instance[name] = copy.deepcopy(sub["default"])
        if isinstance(instance.get(name), dict) and "properties" in sub:
            with_schema_defaults(sub, instance[name])
    return instance


def web_spec(**settings) -> dict:
    """Config section sources.web: the bundled pages and `settings`, the schema's defaults for the rest."""
    schema = load_schema()["properties"]["sources"]["properties"]["web"]
    return with_schema_defaults(schema, {"inputs": [str(BUNDLED)], **settings})


SPEC = web_spec()


def extract(paths, extractor: str = SPEC["extractor"], min_chars: int = SPEC["min_chars"]) -> pl.DataFrame:
    """Documents of the web pages behind `paths` (files or folders), listed as the workflow lists them."""
    return extract_web(web_input_files(paths), extractor, min_chars)


def shared(name: str) -> Path:
    path = SHARED_DATA / name
    if not path.is_dir():
        pytest.skip(f"{path} is absent")
    return path


def theme_of(url: str) -> str:
    sites = {"skyandorbit": "astronomy", "crumbandcrust": "bread", "luckyspin": "gambling", "slowroads": "travel"}
    return next(theme for site, theme in sites.items() if site in url)


# --------------------------------------------------------------------------- shared fixtures (computed once)


@pytest.fixture(scope="module")
def bundled_docs() -> pl.DataFrame:
    docs = extract([BUNDLED])
    kept, _ = web_filter(docs, FILTERS)
    return kept


@pytest.fixture(scope="module")
def embedder():
    return load_embedder(THREADS)


@pytest.fixture(scope="module")
def bundled_embeddings(bundled_docs, embedder) -> np.ndarray:
    return embed(bundled_docs["text"].to_list(), embedder, batch_size=16)


@pytest.fixture(scope="module")
def bundled_clusters(bundled_embeddings):
    return cluster(bundled_embeddings, SMALL_CLUSTERING, seed=42, threads=THREADS)


# --------------------------------------------------------------------------- extraction


def test_extract_warc_sample_reads_html_responses(shared_data):
    warcs = shared("web_warc_sample")
    docs = extract([warcs], min_chars=200)
    # 82 HTTP responses in the four files, a few with under 200 characters of main content.
    assert 60 <= docs.height <= 82
    assert docs["doc_id"].n_unique() == docs.height
    assert docs["url"].str.starts_with("http").all()
    cc = docs.filter(pl.col("url") == "https://creativecommons.org/")
    assert cc.height == 1 and "Creative Commons" in cc["text"][0]
    # ClueWeb09 records whose HTTP headers do not parse are still read (HTML sniffed).
    assert docs["url"].str.contains("uraharajuku").any()
    # Stable ids: a second read gives the same table.
    assert extract([warcs], min_chars=200).equals(docs)


def test_extract_html_folder_and_trafilatura_option(shared_data):
    html = shared("web_trafilatura_cache")
    docs = extract([html / "html"], min_chars=200)
    assert docs.height >= 90
    page = docs.filter(pl.col("url").str.ends_with("blog.python.org.html"))
    assert page.height == 1 and "Python" in page["text"][0]
    files = sorted((html / "html").glob("*.html"))[:4]
    via_trafilatura = extract(files, extractor="trafilatura", min_chars=50)
    assert via_trafilatura.height >= 3
    assert set(via_trafilatura["doc_id"]) <= set(extract(files, min_chars=0)["doc_id"])


def test_bundled_pages_use_their_canonical_url_and_main_content():
    docs = extract([BUNDLED])
    assert docs.height == 32
    crust = docs.filter(pl.col("url") == "https://crumbandcrust.example/crust/")["text"][0]
    assert crust.startswith("A crisp, deeply coloured crust needs a very hot oven")
    assert "newsletter" not in crust and "Related" not in crust  # footer and aside are not main content


def _warc_record(record_id: str, url: str, html: bytes, declared: int | None = None) -> bytes:
    http = b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n\r\n" + html
    length = len(http) if declared is None else declared
    head = (
        f"WARC/1.0\r\nWARC-Type: response\r\nWARC-Record-ID: {record_id}\r\nWARC-Target-URI: {url}\r\n"
        f"WARC-Date: 2024-01-01T00:00:00Z\r\nContent-Type: application/http; msgtype=response\r\n"
        f"Content-Length: {length}\r\n\r\n"
    ).encode()
    return head + http + b"\r\n\r\n"


def test_malformed_warc_files_name_file_and_record(tmp_path):
    page = (BUNDLED / "bread-crust.html").read_bytes()
    good = _warc_record("<urn:uuid:good-1>", "https://a.example/", page)
    ok = tmp_path / "ok.warc"
    ok.write_bytes(good)
    assert extract([ok])["url"].to_list() == ["https://a.example/"]

    cut = tmp_path / "cut.warc"  # second record declares more bytes than the file holds
    cut.write_bytes(good + _warc_record("<urn:uuid:cut-2>", "https://b.example/", page[:300], declared=5000))
    with pytest.raises(InputError, match=r"cut\.warc: record <urn:uuid:cut-2> is truncated"):
        extract([cut])

    garbage = tmp_path / "garbage.warc.gz"
    garbage.write_bytes(b"this is not a WARC file\n")
    with pytest.raises(InputError, match=r"garbage\.warc\.gz: not a readable WARC file .*record #1"):
        extract([garbage])

    # The job reads the files it is given: a missing or foreign one is named, never skipped.
    with pytest.raises(InputError, match=r"missing\.html: cannot read"):
        extract_web([tmp_path / "missing.html"], SPEC["extractor"], SPEC["min_chars"])
    other = tmp_path / "notes.txt"
    other.write_text("x")
    with pytest.raises(InputError, match=r"notes\.txt: not a WARC"):
        extract_web([other], SPEC["extractor"], SPEC["min_chars"])
    with pytest.raises(InputError, match="sources.web.extractor"):
        extract_web([ok], "lynx", SPEC["min_chars"])


# --------------------------------------------------------------------------- quality filters


def test_web_filter_drops_boilerplate_and_counts_per_filter(tmp_path):
    good = extract([BUNDLED / "astronomy-eclipses.html"])
    spam = "Buy now. Best price. Click here.\n" * 40
    short = (
        "The town council met on Tuesday evening and agreed to repair the old stone bridge over the river "
        "before winter, after residents asked for safer crossings. Work starts next month."
    )
    docs = pl.concat([good, pl.DataFrame({"doc_id": ["spam", "short"], "url": ["u1", "u2"], "text": [spam, short]})])
    kept, stats = web_filter(docs, FILTERS)
    assert kept["doc_id"].to_list() == [good["doc_id"][0]]
    assert stats["filter"].to_list() == ["gopher_repetition", "gopher_quality", "c4_quality", "fineweb_quality"]
    by_filter = dict(zip(stats["filter"], stats["dropped"]))
    assert by_filter["gopher_repetition"] == 1  # the repeated-line spam
    assert by_filter["gopher_quality"] == 1  # the short news item (30 words, under Gopher's 50)
    assert "gopher_short_doc" in stats["reasons"][1]
    assert stats["dropped"].sum() == 2
    assert "dup_line_frac" in stats["reasons"][0]
    # A filter set to false does not run.
    _, only_three = web_filter(docs, {**FILTERS, "gopher_repetition": False})
    assert "gopher_repetition" not in only_three["filter"].to_list()
    with pytest.raises(InputError, match="sources.web.filters"):
        web_filter(docs, {"no_such_filter": {}})
    # The job writes the same table, stamped, through the one table writer.
    docs.write_parquet(tmp_path / "documents.parquet")
    web_filter_job(
        docs_path=tmp_path / "documents.parquet",
        spec=web_spec(filters=FILTERS),
        config_hash="c0ffee",
        out_docs=tmp_path / "filtered.parquet",
        out_stats_csv=tmp_path / "web_filters.csv",
    )
    written = pl.read_csv(tmp_path / "web_filters.csv")
    assert written.columns == list(table_columns("web_filters")) and set(written["config_hash"]) == {"c0ffee"}
    assert written.drop("config_hash", "version").equals(stats)
    assert pl.read_parquet(tmp_path / "filtered.parquet").equals(kept)


# --------------------------------------------------------------------------- embeddings and clusters


def test_clusters_recover_the_bundled_themes_deterministically(bundled_docs, bundled_embeddings, bundled_clusters):
    labels, coords2d, centroids = bundled_clusters
    # 32 bundled pages; the quality filters drop one bread page's trimmed text.
    assert bundled_embeddings.shape == (bundled_docs.height, 384) and bundled_docs.height >= 30
    assert np.allclose(np.linalg.norm(bundled_embeddings, axis=1), 1.0, atol=1e-4)
    themes = [theme_of(u) for u in bundled_docs["url"]]
    groups = {}
    for theme, label in zip(themes, labels):
        groups.setdefault(theme, set()).add(int(label))
    assert all(len(g) == 1 and NOISE not in g for g in groups.values()), groups
    assert len({next(iter(g)) for g in groups.values()}) == 4
    assert centroids.shape == (4, 384) and coords2d.shape == (bundled_docs.height, 2)
    again = cluster(bundled_embeddings, SMALL_CLUSTERING, seed=42, threads=THREADS)
    assert np.array_equal(again[0], labels) and np.array_equal(again[1], coords2d)


def test_new_documents_join_existing_clusters_without_reclustering(bundled_docs, bundled_embeddings):
    held_out = np.array([i % 8 == 0 for i in range(bundled_docs.height)])
    labels, _, centroids = cluster(bundled_embeddings[~held_out], SMALL_CLUSTERING, seed=42, threads=THREADS)
    fitted = bundled_docs.filter(pl.Series(~held_out))
    theme_cluster = {theme_of(u): int(c) for u, c in zip(fitted["url"], labels)}
    topics = pl.DataFrame(
        {
            "cluster": list(theme_cluster.values()),
            "topic": list(theme_cluster),
            "kept": [theme != "gambling" for theme in theme_cluster],
            "style": ["textbook" if t != "gambling" else None for t in theme_cluster],
        }
    )
    new_docs = bundled_docs.filter(pl.Series(held_out))
    seeds = assign_web_seeds(new_docs, bundled_embeddings[held_out], centroids, topics, SPEC["extract_chars"])
    assert seeds.columns == list(WEB_SEED_COLUMNS)
    # Each new page lands in its theme's cluster; the page of the dropped (gambling) cluster is left out.
    assert sorted(seeds["topic"]) == ["astronomy", "bread", "travel"]
    for row in seeds.iter_rows(named=True):
        assert theme_of(row["url"]) == row["topic"] and row["cluster"] == theme_cluster[row["topic"]]
        assert len(row["extract"]) <= 1000 and row["source"] == "web"


# --------------------------------------------------------------------------- labels


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("Topic: Home bread baking\nEducational score: 7", ("Home bread baking", 7)),
        ('**Topic:** "Stellar astronomy"\n**Educational score:** 8/10', ("Stellar astronomy", 8)),
        ("Sure! Here you go:\n- Topic: Online casinos, Educational score: 2 out of 10.", ("Online casinos", 2)),
        ("Topic: Budget travel\nEducational score (1-10): 6", ("Budget travel", 6)),
        ('Title: "The Solar System"\nEducational Score: 5.0 (1)', ("The Solar System", 5)),
        ("Educational score: 9\n\nTopic: Black holes.", ("Black holes", 9)),
        ("topic - Sourdough | rating: 4", ("Sourdough", 4)),
        ("Topic: <a few words>\nEducational score: <a whole number from 1 to 10>", None),
        ("Topic: <a few words>\nEducational score: 7.5", None),  # the template's placeholder echoed back
        ("> Topic: Tides and the Moon\n> Educational score: 7.5", ("Tides and the Moon", 8)),
        ("Topic: Travel\nEducational score: 11", None),
        ("Topic: Gardening\nEducational score: seven", None),
        ("I'm ready to help. What topic would you like me to focus on?", None),
        ("Educational score: 6", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_label_reads_messy_answers(answer, expected):
    assert parse_label(answer) == expected


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ('{"topic": "Home bread baking", "educational_score": 7}', ("Home bread baking", 7)),
        ('{ "topic" : "Stellar astronomy" , "educational_score":10}', ("Stellar astronomy", 10)),
        ('{"educational_score": 3, "topic": " Budget travel. "}', ("Budget travel", 3)),
        ('{"topic": "Tides\nand the Moon", "educational_score": 8}', ("Tides and the Moon", 8)),  # raw newline
        ('{"topic": "Travel", "educational_score": 11}', None),
        ('{"topic": "Travel", "educational_score": "7"}', None),
        ('{"topic": "Travel", "educational_score": true}', None),
        ('{"topic": "<a few words>", "educational_score": 5}', None),
        ('{"topic": "", "educational_score": 5}', None),
        ('{"topic": "Sourdough", "educational', None),  # cut short by max_tokens
        ('["Sourdough", 5]', None),
        ("Topic: Home bread baking\nEducational score: 7", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_json_label_reads_constrained_answers(answer, expected):
    assert parse_json_label(answer) == expected


def test_read_label_takes_json_then_free_text():
    assert read_label('{"topic": "Sourdough", "educational_score": 6}') == ("Sourdough", 6)
    assert read_label("Topic: Sourdough\nEducational score: 6") == ("Sourdough", 6)
    assert read_label('{"topic": "Sourdough"}') is None


def test_label_json_schema_is_what_the_grammar_and_the_parser_agree_on():
    import jsonschema

    jsonschema.Draft7Validator.check_schema(LABEL_JSON_SCHEMA)
    good = {"topic": "Home bread baking", "educational_score": 7}
    jsonschema.validate(good, LABEL_JSON_SCHEMA)
    assert parse_json_label(json.dumps(good)) == ("Home bread baking", 7)
    for bad in ({"topic": "Home bread baking and pastry making at home", "educational_score": 7},  # seven words
                {"topic": "bread", "educational_score": 7},  # starts lower case
                {"topic": "Bread", "educational_score": 0}, {"topic": "Bread"}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, LABEL_JSON_SCHEMA)


def test_label_prompts_sample_ten_short_extracts_by_seed(bundled_docs):
    labels = np.array([["astronomy", "bread", "gambling", "travel"].index(theme_of(u)) for u in bundled_docs["url"]])
    labels = np.concatenate([labels, labels])  # 16 documents per cluster, so sampling matters
    docs = pl.concat([bundled_docs, bundled_docs.with_columns(pl.col("doc_id") + "-copy")])
    prompts = label_prompts(docs, labels, seed=1, samples=10, chars=420)
    per_theme = np.bincount(labels, minlength=4).tolist()
    assert prompts["cluster"].to_list() == [0, 1, 2, 3] and prompts["size"].to_list() == per_theme
    assert min(per_theme) >= 10  # more documents than samples in every cluster, so sampling matters
    # Extracts keep their line breaks: each runs from its opening quote to the next extract or the task.
    extracts = re.findall(r'Extract \d+: "(.*?)"\n(?=\nExtract \d+:|\n\S)', prompts["prompt"][0], flags=re.S)
    assert len(extracts) == 10 and all(len(e) <= 420 for e in extracts)
    assert "Topic: <a few words>" in prompts["prompt"][0] and "Educational score:" in prompts["prompt"][0]
    assert label_prompts(docs, labels, seed=1, samples=10, chars=420).equals(prompts)
    assert not label_prompts(docs, labels, seed=2, samples=10, chars=420)["prompt"].equals(prompts["prompt"])


class ScriptedBackend(Backend):
    """Answers from a list per cluster prompt, in order; records what was sent (retry logic only)."""

    name = "scripted"

    def __init__(self, answers: dict[str, list[str]], decoding: str = "free"):
        super().__init__("scripted", {"temperature": 0.6})
        self.answers = {k: list(v) for k, v in answers.items()}
        self.decoding = decoding
        self.sent = []

    def generate(self, requests):
        for req in requests:
            self.sent.append(req)
            marker = next(k for k in self.answers if k in req.prompt)
            yield Completion(req.key, self.answers[marker].pop(0), 1, 1, "stop", 0.0, decoding=self.decoding)


def test_label_clusters_retries_with_new_seed_then_marks_unparseable(tmp_path):
    prompts = pl.DataFrame({"cluster": [0, 1], "size": [5, 5], "prompt": ["about A", "about B"]})
    backend = ScriptedBackend({"A": ["no idea", "Topic: Baking\nEducational score: 6"], "B": ["?", "??", "???"]})
    ledger = GenerationLedger(tmp_path / "labels.jsonl")
    labels = label_clusters(prompts, backend, seed=3, retries=2, ledger=ledger)
    assert labels.select("cluster", "topic", "educational_score", "status", "attempts").rows() == [
        (0, "Baking", 6, "ok", 2),
        (1, None, None, "unparseable", 3),
    ]
    assert len({r.seed for r in backend.sent if "B" in r.prompt}) == 3  # each retry has a new seed
    # Resumed from the ledger: nothing is sent again and the result is the same.
    again = ScriptedBackend({"A": [], "B": []})
    assert label_clusters(prompts, again, seed=3, retries=2, ledger=ledger).equals(labels)
    assert again.sent == []


def test_label_clusters_ask_for_the_schema_and_record_the_decoding_path(tmp_path):
    prompts = pl.DataFrame({"cluster": [0, 1], "size": [5, 5], "prompt": ["about A", "about B"]})
    backend = ScriptedBackend(
        {"A": ['{"topic": "Baking", "educational_score": 6}'], "B": ['{"topic": "Casinos", "educational_score": 2}']},
        decoding="grammar",
    )
    labels = label_clusters(prompts, backend, seed=3, retries=2, ledger=GenerationLedger(tmp_path / "l.jsonl"))
    assert labels.columns == list(LABEL_SCHEMA)
    assert labels.select("topic", "educational_score", "status", "decoding").rows() == [
        ("Baking", 6, "ok", "grammar"),
        ("Casinos", 2, "ok", "grammar"),
    ]
    assert all(req.json_schema == LABEL_JSON_SCHEMA for req in backend.sent)
    # The schema is part of the request: a free-text answer to the same prompt is another request.
    free_key = request_key("about A", "scripted", backend.sampling, backend.sent[0].seed)
    assert backend.sent[0].key != free_key
    # A ledger record from before the decoding path was recorded reads as free text.
    old = GenerationLedger(tmp_path / "old.jsonl")
    record = {"key": backend.sent[0].key, "completion": "Topic: Baking\nEducational score: 6", "prompt_tokens": 1,
              "completion_tokens": 1, "finish_reason": "stop", "seconds": 0.0, "error": ""}
    old.path.write_text(json.dumps(record) + "\n")
    again = ScriptedBackend({"A": [], "B": ['{"topic": "Casinos", "educational_score": 2}']}, decoding="guided")
    relabelled = label_clusters(prompts, again, seed=3, retries=0, ledger=old)
    assert relabelled.select("topic", "decoding").rows() == [("Baking", "free"), ("Casinos", "guided")]


# --------------------------------------------------------------------------- topic table


def test_topic_table_applies_remove_list_score_floor_and_styles():
    labels = pl.DataFrame(
        {
            "cluster": [0, 1, 2, 3, 4],
            "topic": ["Online casino bonuses", "Stellar astronomy", "Celebrity gossip", "Home bread baking", None],
            "educational_score": [4, 9, 2, 2, None],
        }
    )
    sizes = pl.DataFrame({"cluster": [-1, 0, 1, 2, 3, 4], "size": [3, 8, 8, 8, 8, 8]})
    style_map = {"wikihow": ["baking"], "textbook": ["astronomy"]}
    table = topic_table(labels, sizes, ["casino", "gossip"], 3, style_map, seed=42)
    assert table.columns == list(TABLES["web_topics"])
    assert table.select("cluster", "kept", "why_dropped", "style").rows() == [
        (-1, False, "noise", None),
        (0, False, "on_remove_list", None),  # "casino" starts the word "casino"
        (1, True, None, "textbook"),
        (2, False, "on_remove_list", None),  # the remove list wins over the score floor
        (3, False, "under_score_floor", None),
        (4, False, "unparseable", None),
    ]
    # Lower the floor: the bread cluster is kept, in the style its keyword maps to.
    lower = topic_table(labels, sizes, ["casino", "gossip"], 2, style_map, seed=42)
    assert lower.filter(pl.col("cluster") == 3).select("kept", "style").row(0) == (True, "wikihow")
    # "sex" must not remove "Sussex history": terms match at the start of a word.
    assert topic_style("Sussex history", {}, 1) in ("textbook", "blogpost", "wikihow")
    sussex = labels.with_columns(pl.lit("Sussex history").alias("topic"), pl.lit(9).alias("educational_score"))
    kept = topic_table(sussex, sizes, ["sex"], 3, {}, seed=1)
    assert kept.filter(pl.col("cluster") >= 0)["kept"].all()


def test_topic_style_falls_back_to_a_seeded_choice():
    topics = [f"Topic number {i}" for i in range(30)]
    first = [topic_style(t, {}, seed=7) for t in topics]
    assert first == [topic_style(t, {}, seed=7) for t in topics]
    assert set(first) == {"textbook", "blogpost", "wikihow"}
    assert first != [topic_style(t, {}, seed=8) for t in topics]


def test_topics_job_writes_the_table_that_web_assign_reads(tmp_path):
    """web_topics writes a stamped parquet (read by web_assign) and the CSV; no model involved."""
    axes = np.eye(3, dtype=np.float32)
    docs = pl.DataFrame(
        {
            "doc_id": [f"d{i}" for i in range(9)],
            "url": [f"https://x.example/{i}" for i in range(9)],
            "text": [f"Page {i} " * 50 for i in range(9)],
        }
    )
    vectors = np.repeat(axes, 3, axis=0) + 0.01  # three pages near each axis
    labels = np.repeat(np.arange(3), 3)
    labels[-1] = NOISE
    docs.write_parquet(tmp_path / "filtered.parquet")
    pl.DataFrame({"doc_id": docs["doc_id"], "embedding": vectors}).write_parquet(tmp_path / "embeddings.parquet")
    pl.DataFrame({"cluster": [0, 1, 2], "centroid": axes}).write_parquet(tmp_path / "centroids.parquet")
    pl.DataFrame({"doc_id": docs["doc_id"], "cluster": labels, "x": vectors[:, 0], "y": vectors[:, 1]}).write_parquet(
        tmp_path / "clusters.parquet"
    )
    names = ["Stellar astronomy", "Online casinos", "Bread baking"]
    pl.DataFrame({"cluster": [0, 1, 2], "topic": names, "educational_score": [8, 6, 7]}).write_parquet(
        tmp_path / "labels.parquet"
    )

    web_topics_job(
        labels_path=tmp_path / "labels.parquet",
        clusters_path=tmp_path / "clusters.parquet",
        spec=SPEC,
        seed=42,
        config_hash="c0ffee",
        out_topics=tmp_path / "topics.parquet",
        out_csv=tmp_path / "web_topics.csv",
        out_png=tmp_path / "map.png",
    )
    topics = pl.read_parquet(tmp_path / "topics.parquet")
    assert topics.columns == list(table_columns("web_topics")) and set(topics["config_hash"]) == {"c0ffee"}
    assert topics.select("cluster", "size", "kept", "why_dropped").rows() == [
        (-1, 1, False, "noise"),
        (0, 3, True, None),
        (1, 3, False, "on_remove_list"),
        (2, 2, True, None),
    ]
    assert pl.read_csv(tmp_path / "web_topics.csv", schema=topics.schema).equals(topics)
    assert (tmp_path / "map.png").read_bytes()[:4] == b"\x89PNG"

    web_assign_job(
        docs_path=tmp_path / "filtered.parquet",
        embeddings_path=tmp_path / "embeddings.parquet",
        centroids_path=tmp_path / "centroids.parquet",
        topics_path=tmp_path / "topics.parquet",
        spec=SPEC,
        out_seeds=tmp_path / "assigned.parquet",
    )
    seeds = pl.read_parquet(tmp_path / "assigned.parquet")
    # The noise page joins its nearest cluster; the casino cluster's pages are left out.
    assert seeds["url"].to_list() == [f"https://x.example/{i}" for i in (0, 1, 2, 6, 7, 8)]
    assert seeds["topic"].to_list() == ["Stellar astronomy"] * 3 + ["Bread baking"] * 3
    assert seeds["style"].to_list() == ["textbook"] * 3 + ["wikihow"] * 3


# --------------------------------------------------------------------------- end to end with the bundled model


@pytest.mark.e2e  # ~30 s of llama.cpp on top of embedding and UMAP
def test_web_steps_end_to_end_with_the_bundled_model(tmp_path):
    """The rule steps in order, on the bundled pages, labelling with SmolLM2 on CPU (no stub)."""
    config = with_schema_defaults(
        load_schema(),
        {
            "seed": 42,
            "sources": {
                "web": {
                    "inputs": [str(BUNDLED)],
                    "audiences": ["general"],
                    "clustering": SMALL_CLUSTERING,
                    # retries=0 keeps this short; retrying is tested with a scripted backend above. The
                    # JSON answer takes about 25 tokens.
                    "labelling": {"samples": 2, "chars": 120, "retries": 0, "max_tokens": 40},
                }
            },
        },
    )
    spec, seed, out = config["sources"]["web"], config["seed"], tmp_path
    web_extract_job(files=web_input_files(spec["inputs"]), spec=spec, out_docs=out / "documents.parquet")
    web_filter_job(
        docs_path=out / "documents.parquet",
        spec=spec,
        config_hash="e2e",
        out_docs=out / "filtered.parquet",
        out_stats_csv=out / "web_filters.csv",
    )
    web_embed_job(
        docs_path=out / "filtered.parquet", spec=spec, threads=THREADS, out_embeddings=out / "embeddings.parquet"
    )
    web_cluster_job(
        embeddings_path=out / "embeddings.parquet",
        spec=spec,
        seed=seed,
        threads=THREADS,
        out_clusters=out / "clusters.parquet",
        out_centroids=out / "centroids.parquet",
    )
    web_label_prompts_job(
        docs_path=out / "filtered.parquet",
        clusters_path=out / "clusters.parquet",
        spec=spec,
        seed=seed,
        out_prompts=out / "label_prompts.parquet",
    )
    start = time.perf_counter()
    web_label_job(
        prompts_path=out / "label_prompts.parquet",
        spec=spec,
        generation=config["generation"],
        seed=seed,
        threads=THREADS,
        gpus=0,
        ledger=out / "labels.jsonl",
        out_labels=out / "labels.parquet",
    )
    print(f"labelled 4 clusters in {time.perf_counter() - start:.1f} s")
    web_topics_job(
        labels_path=out / "labels.parquet",
        clusters_path=out / "clusters.parquet",
        spec=spec,
        seed=seed,
        config_hash="e2e",
        out_topics=out / "topics.parquet",
        out_csv=out / "topics.csv",
        out_png=out / "map.png",
    )
    web_assign_job(
        docs_path=out / "filtered.parquet",
        embeddings_path=out / "embeddings.parquet",
        centroids_path=out / "centroids.parquet",
        topics_path=out / "topics.parquet",
        spec=spec,
        out_seeds=out / "assigned.parquet",
    )

    # The bundled pages are clean; only the bread page whose trimmed text is too short is dropped.
    assert pl.read_csv(out / "web_filters.csv")["dropped"].sum() <= 1
    answers = pl.read_parquet(out / "labels.parquet")
    assert answers["cluster"].to_list() == [0, 1, 2, 3]
    for row in answers.iter_rows(named=True):
        assert row["completion"] is not None and row["attempts"] == 1
        # Held to the label schema by a grammar, every answer parses at the first attempt.
        assert row["decoding"] == "grammar" and row["status"] == "ok"
        assert (row["topic"], row["educational_score"]) == parse_json_label(row["completion"])
    table = pl.read_parquet(out / "topics.parquet")
    assert table.columns == list(table_columns("web_topics")) and table["cluster"].to_list() == [0, 1, 2, 3]
    assert sorted(table["size"].to_list()) in ([8, 8, 8, 8], [7, 8, 8, 8])  # 8 pages a theme, less the short one
    assert table["why_dropped"].drop_nulls().is_in(["unparseable", "on_remove_list", "under_score_floor"]).all()
    assert (out / "map.png").read_bytes()[:4] == b"\x89PNG"
    seeds = load_seeds("web", spec, {"assigned": [str(out / "assigned.parquet")]})
    assert set(seeds["cluster"]) == set(table.filter(pl.col("kept"))["cluster"])
    prompts = render_prompts("web", seeds, spec, AUDIENCES, seed)
    assert prompts.height == seeds.height


# --------------------------------------------------------------------------- seeds and prompts


AUDIENCES = {
    "general": {
        "label": "a general adult audience",
        "instructions": {s: f"General {s} instructions." for s in registry()["web"].styles},
    }
}


def web_seed_rows(n: int) -> pl.DataFrame:
    styles = ("textbook", "blogpost", "wikihow")
    return pl.DataFrame(
        {
            "seed_id": [f"s{i:03d}" for i in range(n)],
            "source": ["web"] * n,
            "url": [f"https://x.example/{i}" for i in range(n)],
            "extract": [f"Extract number {i} about {{{{ not a template }}}}." for i in range(n)],
            "topic": [f"Topic {i % 5}" for i in range(n)],
            "cluster": [i % 5 for i in range(n)],
            "style": [styles[i % 3] for i in range(n)],
        }
    )


def test_web_prompts_follow_topic_style_and_a_seeded_topic_coin():
    seeds = web_seed_rows(300)
    spec = {"audiences": ["general"], "topic_fraction": 0.5}
    prompts = render_prompts("web", seeds, spec, AUDIENCES, seed=42)
    assert prompts.height == 300
    by_seed = {r["seed_id"]: r for r in prompts.iter_rows(named=True)}
    for row in seeds.iter_rows(named=True):
        p = by_seed[row["seed_id"]]
        expected = {"textbook": ("textbook_narrative", "textbook_academic")}.get(row["style"], (row["style"],))
        assert p["style"] in expected and p["template"] == f"web/{p['style']}.j2"
        assert row["extract"] in p["prompt"]  # seed text printed literally, never evaluated
        assert ("within the context of" in p["prompt"]) == (p["variant"] == "with_topic")
        if p["variant"] == "with_topic":
            assert f'within the context of "{row["topic"]}"' in p["prompt"]
    assert set(prompts.filter(pl.col("style").str.starts_with("textbook"))["style"]) == {
        "textbook_narrative",
        "textbook_academic",
    }
    share = (prompts["variant"] == "with_topic").mean()
    assert 0.4 < share < 0.6
    # Same config -> identical prompts; another config seed flips coins and changes nothing else.
    assert render_prompts("web", seeds, spec, AUDIENCES, seed=42).equals(prompts)
    other = {r["seed_id"]: r for r in render_prompts("web", seeds, spec, AUDIENCES, seed=43).iter_rows(named=True)}
    flipped = 0
    for seed_id, p in by_seed.items():
        q = other[seed_id]
        assert q["style"] == p["style"]
        strip = lambda text: re.sub(r', within the context of "[^"]*"', "", text)  # noqa: E731
        assert strip(q["prompt"]) == strip(p["prompt"])
        flipped += q["variant"] != p["variant"]
    assert 100 < flipped < 200


def test_web_seed_loader_reads_the_assigned_table(tmp_path):
    path = tmp_path / "assigned.parquet"
    web_seed_rows(4).write_parquet(path)
    seeds = load_seeds("web", SPEC, {"assigned": [str(path)]})
    assert seeds.columns == list(WEB_SEED_COLUMNS) and seeds.height == 4
    assert synthpedia.web.load_web_seeds(path).equals(seeds)  # the package re-exports its loader
    web_seed_rows(2).with_columns(pl.lit("poem").alias("style")).write_parquet(path)
    with pytest.raises(InputError, match="unknown styles"):
        load_seeds("web", SPEC, {"assigned": [str(path)]})
    with pytest.raises(InputError, match="assigned web seeds not found"):
        load_seeds("web", SPEC, {"assigned": [str(tmp_path / "missing.parquet")]})

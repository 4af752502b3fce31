"""Report figures and pages from small tables: the blog's contamination shape, seeded samples that do
not depend on sharding, removed documents traced to their generation."""

import polars as pl

from synthpedia.report.plots import contamination_figure, contamination_wide, eval_figure, loss_figure, throughput_figure
from synthpedia.report.provenance import removed_documents
from synthpedia.report.samples import SAMPLE_COLUMNS, merge_samples, shard_samples


def test_contamination_in_the_blogs_shape(tmp_path):
    long = pl.DataFrame({
        "group": ["web + stanford + openstax"] * 2 + ["stories"] * 2,
        "benchmark": ["arc", "boolq"] * 2,
        "samples_removed": [49, 386, 53, 27],
        "unique_benchmark_items": [16, 41, 32, 21],
    })
    wide = contamination_wide(long)
    assert wide.columns == ["group", "arc", "boolq"]
    assert wide.rows() == [("web + stanford + openstax", "49 (16)", "386 (41)"), ("stories", "53 (32)", "27 (21)")]
    contamination_figure(long, str(tmp_path / "c.png"))
    assert (tmp_path / "c.png").read_bytes()[:4] == b"\x89PNG"


def test_figures_draw_from_report_tables_and_from_nothing(tmp_path):
    loss = pl.DataFrame({"step": [1, 2, 3], "loss": [8.0, 7.0, 6.5], "lr": [0.1] * 3, "tokens": [1, 2, 3],
                         "seconds": [0.1] * 3})
    evals = pl.DataFrame({"run": ["tiny"] * 4, "task": ["arc_easy", "arc_easy", "piqa", "piqa"],
                          "metric": ["acc", "acc_norm"] * 2, "value": [0.3, 0.32, 0.5, 0.52],
                          "stderr": [0.05] * 4, "chance": [0.25, 0.25, 0.5, 0.5]})
    generation = pl.DataFrame({"source": ["wikihow", "TOTAL"], "shard": ["000", ""], "model": ["m", "m"],
                               "backend": ["llamacpp"] * 2, "tokens_per_second": [40.0, 40.0]})
    for name, draw, table in (("loss", loss_figure, {"tiny": loss}), ("eval", eval_figure, evals),
                              ("throughput", throughput_figure, generation)):
        draw(table, str(tmp_path / f"{name}.png"))
        draw({} if name == "loss" else table.clear(), str(tmp_path / f"{name}_empty.png"))
        assert (tmp_path / f"{name}.png").stat().st_size > (tmp_path / f"{name}_empty.png").stat().st_size


def rows(n):
    return pl.DataFrame({
        **{c: [f"{c}{i}" for i in range(n)] for c in SAMPLE_COLUMNS},
        "source": ["openstax"] * n, "style": ["textbook"] * n,
        "audience": ["college" if i % 2 else "researchers" for i in range(n)],
        "completion_tokens": list(range(n)),
    })


def test_sample_generations_do_not_depend_on_the_shards():
    data = rows(60)
    one_pass = merge_samples([shard_samples(data, 42, 3)], 3)
    sharded = merge_samples([shard_samples(data.slice(0, 25), 42, 3), shard_samples(data.slice(25), 42, 3)], 3)
    assert one_pass.equals(sharded)
    assert one_pass.group_by("audience").len().sort("audience")["len"].to_list() == [3, 3]
    assert not one_pass.equals(merge_samples([shard_samples(data, 7, 3)], 3))  # another seed, another sample


def test_removed_documents_name_the_item_ratio_and_generation():
    hits = pl.DataFrame({"prompt_id": ["p1"], "source": ["wikihow"], "benchmark": ["arc_easy"],
                         "item_id": ["Mercury_7"], "ratio": [0.83]})
    generations = pl.DataFrame({"source": ["wikihow", "wikihow"], "prompt_id": ["p1", "p2"], "seed_id": ["s1", "s2"],
                                "template": ["wikihow/wikihow.j2"] * 2, "request_key": ["r1", "r2"],
                                "text": ["Which planet is closest to the sun?", "kept"]})
    table = removed_documents(hits, generations)
    assert table.rows(named=True) == [{"benchmark": "arc_easy", "item_id": "Mercury_7", "ratio": 0.83,
                                       "source": "wikihow", "prompt_id": "p1", "seed_id": "s1",
                                       "template": "wikihow/wikihow.j2", "request_key": "r1",
                                       "text": "Which planet is closest to the sun?"}]

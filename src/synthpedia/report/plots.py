"""The report's figures: loss per run, eval against chance, throughput per shard, contamination, diversity.

Each function reads report tables (frames of `synthpedia.tables.TABLES`) and
writes one PNG atomically; matplotlib is imported inside them.
"""

from __future__ import annotations

from typing import Sequence

import polars as pl

from ..io import atomic_path

BLUE, ORANGE, GREY = "#4c72b0", "#dd8452", "#8c8c8c"


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, out_png: str) -> None:
    plt = _pyplot()
    fig.tight_layout()
    with atomic_path(out_png) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)


def _empty(ax, what: str) -> None:
    ax.text(0.5, 0.5, f"no {what} in this run", ha="center", va="center", transform=ax.transAxes, color=GREY)
    ax.set_xticks([])
    ax.set_yticks([])


def loss_figure(losses: dict[str, pl.DataFrame], out_png: str) -> None:
    """Training loss against step, one line per run (`losses`: run -> report table "loss")."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    for run, loss in sorted(losses.items()):
        ax.plot(loss["step"].to_list(), loss["loss"].to_list(), marker=".", label=run)
    if losses:
        ax.set_xlabel("step")
        ax.set_ylabel("training loss (nats/token)")
        ax.legend(title="run")
        ax.grid(alpha=0.3)
    else:
        _empty(ax, "training runs")
    ax.set_title("training loss per run")
    _save(fig, out_png)


def eval_figure(evals: pl.DataFrame, out_png: str) -> None:
    """Per task, each run's acc and acc_norm with their stderr, and the chance baseline as a tick."""
    plt = _pyplot()
    shown = evals.filter(pl.col("metric").is_in(["acc", "acc_norm"])) if evals.height else evals
    tasks = sorted(set(shown["task"].to_list())) if shown.height else []
    fig, ax = plt.subplots(figsize=(max(6.0, 1.3 * len(tasks) + 2), 4.5))
    if not tasks:
        _empty(ax, "evaluations")
        _save(fig, out_png)
        return
    series = shown.select("run", "metric").unique().sort("run", "metric").rows()
    width = 0.8 / len(series)
    colours = [BLUE, ORANGE, "#55a868", "#c44e52", "#8172b2", "#937860"]
    for i, (run, metric) in enumerate(series):
        part = shown.filter((pl.col("run") == run) & (pl.col("metric") == metric))
        by_task = {r["task"]: r for r in part.iter_rows(named=True)}
        xs = [t + (i - (len(series) - 1) / 2) * width for t in range(len(tasks))]
        values = [by_task[t]["value"] if t in by_task else 0.0 for t in tasks]
        errors = [by_task[t]["stderr"] or 0.0 if t in by_task else 0.0 for t in tasks]
        ax.bar(xs, values, width, yerr=errors, capsize=3, label=f"{run} {metric}", color=colours[i % len(colours)])
    chance = shown.group_by("task").agg(pl.col("chance").first())
    chance = dict(chance.iter_rows())
    ax.hlines([chance[t] for t in tasks], [t - 0.45 for t in range(len(tasks))],
              [t + 0.45 for t in range(len(tasks))], colors="black", linestyles="dashed", label="chance")
    ax.set_xticks(range(len(tasks)), tasks, rotation=20)
    ax.set_ylabel("accuracy (± stderr)")
    ax.set_ylim(0, 1)
    ax.set_title("zero-shot evaluation against chance")
    ax.legend(fontsize=8)
    _save(fig, out_png)


def throughput_figure(generation: pl.DataFrame, out_png: str) -> None:
    """Generated tokens per second for each shard (bars) and overall (line)."""
    plt = _pyplot()
    shards = generation.filter(pl.col("source") != "TOTAL") if generation.height else generation
    fig, ax = plt.subplots(figsize=(max(6.0, 0.6 * shards.height + 2), 4.2))
    if not shards.height:
        _empty(ax, "generation shards")
        _save(fig, out_png)
        return
    labels = [f"{s}/{h}" for s, h in shards.select("source", "shard").iter_rows()]
    rates = [r or 0.0 for r in shards["tokens_per_second"].to_list()]
    ax.bar(range(len(labels)), rates, color=BLUE)
    total = generation.filter(pl.col("source") == "TOTAL")
    if total.height and total["tokens_per_second"][0] is not None:
        ax.axhline(total["tokens_per_second"][0], color=ORANGE, linestyle="dashed", label="all shards")
        ax.legend()
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right", fontsize=8)
    ax.set_ylabel("completion tokens / s")
    ax.set_title(f"generation throughput per shard\n{shards['model'][0]} ({shards['backend'][0]})", fontsize=10)
    _save(fig, out_png)


def contamination_wide(contamination: pl.DataFrame) -> pl.DataFrame:
    """The blog's shape: one row per group, one column per benchmark, cells "removed (unique items)"."""
    if not contamination.height:
        return pl.DataFrame({"group": []}, schema={"group": pl.String})
    cells = contamination.with_columns(
        pl.format("{} ({})", "samples_removed", "unique_benchmark_items").alias("cell")
    )
    groups = list(dict.fromkeys(cells["group"].to_list()))
    benchmarks = list(dict.fromkeys(cells["benchmark"].to_list()))
    lookup = {(g, b): c for g, b, c in cells.select("group", "benchmark", "cell").iter_rows()}
    return pl.DataFrame(
        {"group": groups, **{b: [lookup.get((g, b), "0 (0)") for g in groups] for b in benchmarks}}
    )


def contamination_figure(contamination: pl.DataFrame, out_png: str) -> None:
    """The contamination table drawn as in the blog: groups x benchmarks, "removed (unique items)"."""
    plt = _pyplot()
    wide = contamination_wide(contamination)
    benchmarks = wide.columns[1:]
    fig, ax = plt.subplots(figsize=(max(6.0, 1.25 * len(benchmarks) + 3), 0.45 * wide.height + 1.4))
    ax.axis("off")
    if wide.height:
        cells = [list(row[1:]) for row in wide.iter_rows()]
        table = ax.table(cellText=cells, rowLabels=wide["group"].to_list(), colLabels=list(benchmarks),
                         loc="center", cellLoc="center")
        table.auto_set_font_size(False)
        table.set_fontsize(9)
        table.scale(1, 1.4)
        removed = {(g, b): n for g, b, n in contamination.select("group", "benchmark", "samples_removed").iter_rows()}
        for (r, c), cell in table.get_celld().items():
            if r >= 1 and c >= 0 and removed.get((wide["group"][r - 1], benchmarks[c]), 0) > 0:
                cell.set_facecolor("#f6d5c5")
    else:
        _empty(ax, "decontamination groups")
    ax.set_title("samples removed (unique benchmark items)", fontsize=10)
    _save(fig, out_png)


def _group_labels(table: pl.DataFrame) -> list[str]:
    rows = table.select("source", "style", "audience", "documents").iter_rows()
    return [f"{s} · {st} · {a} (n={n})" for s, st, a, n in rows]


def diversity_figure(table: pl.DataFrame, out_png: str) -> None:
    """Per source, style and audience: top-20 opening share, distinct-1/2/3, near-duplicate rate, words."""
    plt = _pyplot()
    labels = _group_labels(table) if table.height else []
    height = max(3.5, 0.32 * len(labels) + 1.5)
    fig, axes = plt.subplots(1, 4, figsize=(17, height), sharey=True)
    if not labels:
        for ax in axes:
            _empty(ax, "generations")
        _save(fig, out_png)
        return
    ys = list(range(len(labels)))[::-1]
    axes[0].barh(ys, table["top20_opening_share"].to_list(), color=BLUE)
    axes[0].set_title("share opening with a top-20 opening")
    axes[0].set_xlim(0, 1)
    for n, colour, offset in ((1, BLUE, -0.25), (2, ORANGE, 0.0), (3, "#55a868", 0.25)):
        values = [v or 0.0 for v in table[f"distinct_{n}"].to_list()]
        axes[1].barh([y + offset for y in ys], values, height=0.25, color=colour, label=f"distinct-{n}")
    axes[1].set_title("distinct n-grams / n-grams")
    axes[1].set_xlim(0, 1)
    axes[1].legend(fontsize=7, loc="lower right")
    axes[2].barh(ys, [v or 0.0 for v in table["near_duplicate_rate"].to_list()], color=ORANGE)
    axes[2].set_title("embedding near-duplicate rate")
    axes[2].set_xlim(0, 1)
    axes[3].barh(ys, table["words_mean"].to_list(), color=GREY, label="mean")
    axes[3].scatter(table["words_p90"].to_list(), ys, color="black", marker="|", s=80, label="p90")
    axes[3].set_title("length (words)")
    axes[3].legend(fontsize=7, loc="lower right")
    axes[0].set_yticks(ys, labels, fontsize=8)
    _save(fig, out_png)


def loss_tables(paths: Sequence[str], runs: Sequence[str]) -> dict[str, pl.DataFrame]:
    """run -> its loss table, from results/tables/loss_{run}.csv in the order of `runs`."""
    return {run: pl.read_csv(path) for run, path in zip(runs, paths)}


def figures_job(
    *,
    losses: Sequence[str],
    runs: Sequence[str],
    evals: str | None,
    generation: str,
    contamination: str,
    out_loss: str,
    out_eval: str,
    out_throughput: str,
    out_contamination: str,
) -> None:
    """The report_figures rule: the report tables -> loss, eval, throughput and contamination figures."""
    loss_figure(loss_tables(losses, runs), out_loss)
    eval_figure(pl.read_csv(evals) if evals else pl.DataFrame(), out_eval)
    throughput_figure(pl.read_csv(generation), out_throughput)
    contamination_figure(pl.read_csv(contamination), out_contamination)

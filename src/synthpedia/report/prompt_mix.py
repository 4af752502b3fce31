"""Tables and figures of the prompt mix: what a reader of the original's blog expects to see."""

from __future__ import annotations

from typing import Sequence

import polars as pl

from ..io import atomic_path, read_parquets
from ..tables import empty_table, write_table

MIX_COLUMNS = ("source", "style", "audience")


def prompt_mix(prompt_paths: Sequence[str]) -> pl.DataFrame:
    """Prompts by source, style and audience (one row per combination, with its share)."""
    prompts = read_parquets(prompt_paths)
    if not prompts.height:
        return empty_table("prompt_mix")
    mix = prompts.group_by(MIX_COLUMNS).agg(pl.len().alias("prompts")).sort(MIX_COLUMNS)
    return mix.with_columns((pl.col("prompts") / pl.col("prompts").sum()).alias("share"))


def plot_prompt_mix(mix: pl.DataFrame, out_png: str) -> None:
    """Three bar charts: prompts per seed source, per format (style) and per audience."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
    for ax, column in zip(axes, MIX_COLUMNS):
        counts = mix.group_by(column).agg(pl.col("prompts").sum()).sort("prompts", descending=True)
        ax.barh(counts[column].to_list()[::-1], counts["prompts"].to_list()[::-1], color="#4c72b0")
        ax.set_title(f"prompts by {'format' if column == 'style' else column}")
        ax.set_xlabel("prompts")
    fig.tight_layout()
    with atomic_path(out_png) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)


def prompt_mix_job(prompt_paths: Sequence[str], out_csv: str, out_png: str, config_hash: str) -> None:
    """The prompt_mix rule: the prompt mix table (CSV, stamped) and its figure."""
    mix = write_table(prompt_mix(prompt_paths), "prompt_mix", config_hash, out_csv)
    plot_prompt_mix(mix, out_png)

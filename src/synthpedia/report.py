"""Tables and figures of the prompt mix: what a reader of the original's blog expects to see."""

from __future__ import annotations

from typing import Sequence

import polars as pl

from . import __version__
from .io import atomic_path, read_parquets, write_csv

MIX_COLUMNS = ("source", "style", "audience")


def prompt_mix(prompt_paths: Sequence[str], config_hash: str) -> pl.DataFrame:
    """Prompts by source, style and audience (one row per combination, with its share)."""
    prompts = read_parquets(prompt_paths)
    if not prompts.height:
        return pl.DataFrame(schema={**{c: pl.String for c in MIX_COLUMNS}, "prompts": pl.UInt32, "share": pl.Float64})
    mix = prompts.group_by(MIX_COLUMNS).agg(pl.len().alias("prompts")).sort(MIX_COLUMNS)
    return mix.with_columns(
        (pl.col("prompts") / pl.col("prompts").sum()).alias("share"),
        pl.lit(config_hash).alias("config_hash"),
        pl.lit(__version__).alias("version"),
    )


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
    mix = prompt_mix(prompt_paths, config_hash)
    write_csv(mix, out_csv)
    plot_prompt_mix(mix, out_png)

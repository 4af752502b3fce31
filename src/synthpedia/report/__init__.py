"""The report's tables, figures and pages: what a reader of the original's blog expects to see.

One module per subject: `prompt_mix` (the prompt mix), `plots` (loss, eval
against chance, throughput, contamination in the blog's shape, diversity),
`samples` (seeded sample generations), `provenance` (removed documents with
the benchmark item they matched), `html` (the self-contained tables the report
shows). Plotting libraries are imported inside the functions that draw.
"""

from .prompt_mix import plot_prompt_mix, prompt_mix, prompt_mix_job

__all__ = ["plot_prompt_mix", "prompt_mix", "prompt_mix_job"]

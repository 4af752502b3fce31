"""Evaluation of local checkpoints with lighteval 0.13, offline, on local task files.

Tasks are local jsonl files, one row per item::

    {"id": "arc-e-0001", "query": "Question: ...\\nAnswer:", "choices": [" a", " b"], "gold": 1}

(WinoGrande rows also carry ``contexts``, one per choice: partial scoring).
Modules: ``tasks`` (task files, sampling, checkpoint digest), ``run`` (the
lighteval run and its offline patches, the evaluate rule), ``table`` (the
eval table and its rule). The public names are importable from here.
"""

from synthpedia.evaluate.run import (
    EVAL_METRICS,
    custom_tasks_module,
    evaluate_checkpoint,
    evaluate_job,
    multiple_choice_doc,
)
from synthpedia.evaluate.table import eval_table, eval_table_job
from synthpedia.evaluate.tasks import chance_level, checkpoint_digest, partial_scores, read_task_file, select_items

__all__ = [
    "EVAL_METRICS",
    "chance_level",
    "checkpoint_digest",
    "custom_tasks_module",
    "eval_table",
    "eval_table_job",
    "evaluate_checkpoint",
    "evaluate_job",
    "multiple_choice_doc",
    "partial_scores",
    "read_task_file",
    "select_items",
]

"""lighteval 0.13 run offline on a local checkpoint and local tasks: the glue and its patches.

Tasks are local jsonl files, one row per item::

    {"id": "arc-e-0001", "query": "Question: ...\\nAnswer:", "choices": [" a", " b"], "gold": 1}

Each file becomes a lighteval *custom* task (``LightevalTaskConfig`` whose
``hf_repo`` is a local folder holding ``test.jsonl``). A multiple-choice task is
scored by comparing the log-likelihood of every choice given the query
(lighteval's transformers backend). Metrics, one value per task:

- ``acc``: the choice with the highest summed log-probability is the gold one.
- ``acc_norm``: the same after dividing by the choice's length in characters
  (lighteval's ``LogProbCharNorm``, its usual length-normalised accuracy).
- ``acc_norm_token``: divided by the choice's own number of tokens; lighteval's
  ``LogProbTokenNorm`` divides by the choice's tokens padded with -1 to the
  longest choice (transformers backend), which makes it equal to ``acc``, so
  the padding is dropped first.

A generative task (rows with ``golds``: TriviaQA, GSM8K) is answered by greedy
generation up to the row's stop sequences and ``max_new_tokens`` (overridable
per task), and scored by lighteval's own metric object of the row's
``metric``: ``em`` (``Metrics.exact_match``: stripped generation equal to one
accepted answer) or ``extractive_match`` (``Metrics.expr_gold_metric``: the
final number of the generation against the target's). Few-shot examples are
already in the query (see ``synthpedia.benchsets.write_eval_task``): lighteval
runs every task with 0 shots of its own, so its sampler (seeded 42 whatever
the config says) never adds any.

What it takes to run lighteval 0.13 offline and right, all undone on exit of
:func:`_lighteval_offline` unless said otherwise:

1. ``Registry.load_all_task_configs`` imports every built-in task module before
   adding custom ones, with no switch to skip them (one downloads a file at
   import, another calls the hub). It is replaced by a loader that reads only
   the custom task module we pass (``custom_tasks`` accepts a module object).
2. The details logger hashes ``str`` with ``xxhash.xxh64``, which xxhash 4.1
   refuses ("Strings must be encoded before hashing"): the logger's module gets
   an ``xxh64`` that encodes str as UTF-8 first (what xxhash < 4.1 did).
3. The hub is switched off for the run, whatever the job's environment
   (``HF_HUB_OFFLINE`` and ``HF_DATASETS_OFFLINE`` in the environment, and the
   flags ``huggingface_hub`` and ``datasets`` read at import; the model "sha"
   lookup then fails quietly, as lighteval intends); the ``datasets`` cache of
   the task folders goes to the run's temporary folder; autograd, which
   lighteval's transformers backend switches off process-wide at import, is
   switched back. Nothing is set at import of this module.
4. lighteval's per-sample result cache is keyed by the model *config* (path,
   dtype, batch size...), not the weights, so a retrained checkpoint at the
   same path would get stale scores: every run gets a fresh, temporary cache.
   Its folder is ``cache_dir / model_name / hash``, and an absolute model path
   joined onto it replaces ``cache_dir``: the cache would land inside the
   checkpoint folder. ``SampleCache`` is built with a relative model name.
5. The transformers model's accelerator is dropped before the single-process
   run: its gather path slices the per-choice token lists with
   ``[:num_choices][:len_choice]`` (the first axis twice), losing choices when
   they are shorter in tokens than their count (ARC's " 5"), and
   token-normalised scores then fail.
"""

from __future__ import annotations

import contextlib
import copy
import os
import tempfile
import time
from pathlib import Path
from types import ModuleType, SimpleNamespace

import numpy as np

from synthpedia import __version__
from synthpedia.errors import InputError
from synthpedia.evaluate.tasks import (
    _PART,
    _TASK_NAME,
    _finite,
    _write_task_folders,
    chance_level,
    checkpoint_digest,
    num_fewshot,
    partial_scores,
)
from synthpedia.io import write_json
from synthpedia.runtime import set_torch_threads

EVAL_METRICS = ("acc", "acc_norm", "acc_norm_token")
# The hub variables an offline lighteval run sets (and restores on exit).
_OFFLINE_VARIABLES = ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")

def multiple_choice_doc(line: dict, task_name: str):
    """lighteval prompt function: a jsonl row -> a zero-shot multiple-choice Doc."""
    from lighteval.tasks.requests import Doc

    return Doc(
        task_name=task_name,
        query=line["query"],
        choices=list(line["choices"]),
        gold_index=int(line["gold"]),
        specific={"item_id": line["id"]},
    )


def generative_doc(line: dict, task_name: str):
    """lighteval prompt function: a generative jsonl row -> a Doc whose golds are the row's accepted answers."""
    from lighteval.tasks.requests import Doc

    # one choice holding every accepted answer, gold index 0: lighteval's TriviaQA layout (Doc.get_golds flattens it)
    return Doc(
        task_name=task_name,
        query=line["query"],
        choices=[list(line["golds"])],
        gold_index=0,
        specific={"item_id": line["id"]},
    )


def _generative_metric(name: str):
    """lighteval's own metric object for a generative metric name (GENERATIVE_METRICS)."""
    from lighteval.metrics.metrics import Metrics

    metric = {"em": Metrics.exact_match, "extractive_match": Metrics.expr_gold_metric}[name].value
    if metric.metric_name != name:  # the names in task files are lighteval's own
        raise RuntimeError(f"eval: lighteval's metric for {name!r} is now named {metric.metric_name!r}")
    return metric


def _metrics() -> list:
    """lighteval metric objects for EVAL_METRICS (built lazily: importing lighteval takes seconds)."""
    from lighteval.metrics.metrics_sample import LoglikelihoodAcc
    from lighteval.metrics.normalizations import LogProbCharNorm, LogProbTokenNorm
    from lighteval.metrics.utils.metric_utils import SampleLevelMetric
    from lighteval.tasks.requests import SamplingMethod

    class UnpaddedTokenNormAcc(LoglikelihoodAcc):
        """Token-normalised acc over each choice's own tokens (drops the -1 padding of the transformers backend)."""

        def compute(self, doc, model_response, **kwargs):
            fixed = copy.copy(model_response)
            fixed.output_tokens = [[int(t) for t in toks if int(t) != -1] for toks in model_response.output_tokens]
            return super().compute(doc=doc, model_response=fixed, **kwargs)

    def metric(name, fn):
        return SampleLevelMetric(
            metric_name=name,
            sample_level_fn=fn,
            category=SamplingMethod.LOGPROBS,
            corpus_level_fn=np.mean,
            higher_is_better=True,
        )

    return [
        metric("acc", LoglikelihoodAcc(logprob_normalization=None)),
        metric("acc_norm", LoglikelihoodAcc(logprob_normalization=LogProbCharNorm())),
        metric("acc_norm_token", UnpaddedTokenNormAcc(logprob_normalization=LogProbTokenNorm())),
    ]


def custom_tasks_module(task_dirs: dict[str, Path], generation: dict[str, dict] | None = None) -> ModuleType:
    """An in-memory lighteval custom-task module: one zero-shot task per local folder.

    `generation`: {task: {"metric", "stop", "max_new_tokens"}} for the
    generative tasks; the others are multiple choice.
    """
    from lighteval.tasks.lighteval_task import LightevalTaskConfig

    generation = generation or {}
    metrics = _metrics()
    module = ModuleType("synthpedia_eval_tasks")
    configs = []
    for name, folder in sorted(task_dirs.items()):
        gen = generation.get(name)
        kind = {
            "prompt_function": multiple_choice_doc,
            "metrics": metrics,
        } if gen is None else {
            "prompt_function": generative_doc,
            "metrics": [_generative_metric(gen["metric"])],
            "generation_size": gen["max_new_tokens"],
            "stop_sequence": list(gen["stop"]),
        }
        configs.append(LightevalTaskConfig(
            name=name,
            hf_repo=str(folder),  # a local folder with test.jsonl: datasets' json builder, no hub
            hf_subset="default",
            hf_avail_splits=["test"],
            evaluation_splits=["test"],
            few_shots_split=None,
            few_shots_select=None,
            version=0,
            **kind,
        ))
    module.TASKS_TABLE = configs
    return module


def _utf8_xxh64(data=b"", seed: int = 0):
    import xxhash

    return xxhash.xxh64(data.encode("utf-8") if isinstance(data, str) else data, seed=seed)


@contextlib.contextmanager
def _offline_environment():
    """The hub variables set to offline for the block (before the hub libraries are imported), then restored."""
    saved = {name: os.environ.get(name) for name in _OFFLINE_VARIABLES}
    os.environ.update(dict.fromkeys(_OFFLINE_VARIABLES, "1"))
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextlib.contextmanager
def _patched(*patches: tuple[object, str, object]):
    """Set each (object, attribute, value) for the block; the old values come back on exit."""
    # vars(): a class's own entry (a staticmethod stays one), or a module's global
    saved = [(obj, name, vars(obj)[name]) for obj, name, _ in patches]
    for obj, name, value in patches:
        setattr(obj, name, value)
    try:
        yield
    finally:
        for obj, name, value in reversed(saved):
            setattr(obj, name, value)


@contextlib.contextmanager
def _lighteval_offline(work: Path):
    """Patch lighteval 0.13 narrowly for an offline run (see the module docstring); undone on exit.

    `work` (a temporary folder) also takes the `datasets` cache of the task
    folders, which would otherwise pile up in ~/.cache under throwaway names.
    The hub's offline switches are set both in the environment (for the
    libraries not imported yet) and in the modules that already read them.
    """
    with contextlib.ExitStack() as stack:
        stack.enter_context(_offline_environment())
        import datasets.config as datasets_config
        import huggingface_hub.constants as hub_constants
        import torch

        grad_enabled = torch.is_grad_enabled()  # lighteval's transformers backend turns autograd off at import
        stack.callback(torch.set_grad_enabled, grad_enabled)
        from lighteval.logging import info_loggers
        from lighteval.tasks.registry import Registry
        from lighteval.utils.cache_management import SampleCache

        def load_custom_task_configs(custom_tasks=None, load_multilingual: bool = False):
            if custom_tasks is None:
                raise InputError("eval: only custom task modules can be loaded offline")
            return Registry._extract_configs(Registry.create_custom_tasks_module(custom_tasks))

        cache_init = SampleCache.__init__

        def cache_under_its_folder(self, model_config):
            # The cache folder is cache_dir / model_name / hash: an absolute model path replaces
            # cache_dir and the cache lands inside the checkpoint. Keyed by a relative name instead.
            keyed = copy.copy(model_config)
            keyed.model_name = "checkpoint"
            cache_init(self, keyed)
            self.model_config = model_config

        stack.enter_context(
            _patched(
                (SampleCache, "__init__", cache_under_its_folder),
                (Registry, "load_all_task_configs", staticmethod(load_custom_task_configs)),
                (info_loggers, "xxhash", SimpleNamespace(xxh64=_utf8_xxh64)),
                (hub_constants, "HF_HUB_OFFLINE", True),
                (datasets_config, "HF_HUB_OFFLINE", True),
                (datasets_config, "HF_DATASETS_OFFLINE", True),
                (datasets_config, "HF_DATASETS_CACHE", Path(work) / "hf-datasets"),
            )
        )
        yield


def evaluate_checkpoint(
    checkpoint: str,
    tasks: dict,
    out_json: str,
    *,
    max_samples: int | None | dict,
    batch_size: int,
    seed: int,
    max_new_tokens: dict[str, int | None] | None = None,
) -> dict:
    """Evaluate a local HF checkpoint on local tasks with lighteval, offline.

    In: `checkpoint` folder (config.json, weights, tokenizer), `tasks`
    {name: jsonl path}, at most `max_samples` items per task (drawn with `seed`;
    None = all; a dict gives each task its own), `batch_size` (lighteval's:
    choices x items per forward pass; items per pass = batch_size / choices
    rounded to a multiple of 8, at least 1; sequences per generation batch),
    `max_new_tokens` {task: tokens} overriding a generative task file's own
    (None or absent: the file's). Out: `out_json` (written atomically) and the
    same dict: checkpoint digest, lighteval version, and per task its metrics
    {name: {value, stderr}}, item count, few-shot count, chance level (None for
    generative tasks) and per-item log-likelihoods and predictions (generated
    text for generative tasks).
    """
    if not tasks:
        raise InputError("eval: no tasks given")
    for name in tasks:
        if not _TASK_NAME.match(name):
            raise InputError(f"eval: task name {name!r} must match {_TASK_NAME.pattern}")
    ckpt = Path(checkpoint)
    if not (ckpt / "config.json").is_file():
        raise InputError(f"eval: {ckpt} is not a checkpoint folder (no config.json)")
    if batch_size < 1:
        raise InputError(f"eval: batch_size must be >= 1, got {batch_size}")
    per_task = max_samples if isinstance(max_samples, dict) else dict.fromkeys(tasks, max_samples)
    if set(per_task) != set(tasks):
        raise InputError(f"eval: max_samples names {sorted(per_task)}, the tasks are {sorted(tasks)}")
    for name, tokens in (max_new_tokens or {}).items():
        if tokens is not None and (not isinstance(tokens, int) or tokens < 1):
            raise InputError(f"eval: max_new_tokens of task {name} must be an integer >= 1, got {tokens!r}")
    digest = checkpoint_digest(ckpt)
    start = time.perf_counter()
    results = _run_lighteval(ckpt, tasks, per_task, batch_size, seed, max_new_tokens or {})
    results["max_samples"] = max_samples
    results.update(checkpoint_digest=digest, seconds=time.perf_counter() - start)
    write_json(results, out_json)
    return results


def _generation_settings(selected: dict, max_new_tokens: dict) -> dict:
    """{task: {"metric", "stop", "max_new_tokens"}} of the generative tasks among `selected` {task: rows}."""
    settings = {}
    for name, rows in selected.items():
        if "golds" not in rows[0]:
            continue
        kinds = {(r["metric"], tuple(r["stop"]), r["max_new_tokens"]) for r in rows}
        if len(kinds) != 1:
            raise InputError(f"eval: task {name}: rows differ in metric, stop or max_new_tokens")
        metric, stop, tokens = kinds.pop()
        override = max_new_tokens.get(name)
        settings[name] = {"metric": metric, "stop": list(stop), "max_new_tokens": override or tokens}
    return settings


def _run_lighteval(ckpt: Path, tasks: dict, max_samples: dict, batch_size: int, seed: int, max_new_tokens: dict) -> dict:
    """The lighteval run proper (see :func:`evaluate_checkpoint`); returns the results dict."""
    with tempfile.TemporaryDirectory(prefix="synthpedia-eval-") as work:
        work = Path(work)
        selected = _write_task_folders(tasks, work / "data", max_samples, seed)
        generation = _generation_settings(selected, max_new_tokens)
        with _lighteval_offline(work):
            import lighteval
            from lighteval.logging.evaluation_tracker import EvaluationTracker
            from lighteval.models.transformers.transformers_model import TransformersModelConfig
            from lighteval.pipeline import ParallelismManager, Pipeline, PipelineParameters

            module = custom_tasks_module({name: work / "data" / name for name in selected}, generation)
            tracker = EvaluationTracker(output_dir=str(work / "out"), save_details=False)
            parameters = PipelineParameters(
                launcher_type=ParallelismManager.NONE,
                custom_tasks_directory=module,  # Registry accepts a module object
                max_samples=None,  # items are already selected, with our seed
                dataset_loading_processes=1,
                # Must stay > 0 or lighteval drops stderr; for a mean it is analytic, not bootstrapped.
                bootstrap_iters=1000,
            )
            model_config = TransformersModelConfig(
                model_name=str(ckpt.resolve()),
                batch_size=batch_size,
                dtype="float32",
                model_parallel=False,
                cache_dir=str(work / "sample-cache"),  # fresh per run: never stale scores
            )
            pipeline = Pipeline(
                tasks=",".join(f"{name}|0" for name in sorted(selected)),
                pipeline_parameters=parameters,
                evaluation_tracker=tracker,
                model_config=model_config,
            )
            # One process, so nothing to gather: lighteval's accelerate gather path slices the
            # continuation tokens with [:num_choices][:max_choice_len] (the first axis twice),
            # dropping choices whenever a doc's choices are shorter in tokens than their count.
            pipeline.model.accelerator = None
            pipeline.evaluate()
            aggregated = pipeline.evaluation_tracker.metrics_logger.metric_aggregated
            details = pipeline.get_details()
            lighteval_version = getattr(lighteval, "__version__", None) or _dist_version("lighteval")

    results = {
        "checkpoint": str(ckpt),
        "lighteval_version": lighteval_version,
        "synthpedia_version": __version__,
        "seed": seed,
        "max_samples": max_samples,
        "batch_size": batch_size,
        "tasks": {},
    }
    for name, rows in selected.items():
        key = f"{name}|0"
        if key not in aggregated:
            raise RuntimeError(f"eval: lighteval returned no results for task {name}")
        if name in generation:
            metric = generation[name]["metric"]
            scores = aggregated[key]
            results["tasks"][name] = {
                "n": len(rows), "chance": None, "source": str(tasks[name]), "scoring": "generative",
                "num_fewshot": num_fewshot(rows), "max_new_tokens": generation[name]["max_new_tokens"],
                "stop": generation[name]["stop"],
                "metrics": {metric: {"value": _finite(scores.get(metric)),
                                     "stderr": _finite(scores.get(f"{metric}_stderr"))}},
                "items": sorted(({"id": d.doc.specific["item_id"], "prediction": d.model_response.final_text[0],
                                  metric: float(d.metric[metric])} for d in details.get(key, [])),
                                key=lambda it: it["id"]),
            }
            continue
        if "contexts" in rows[0]:
            logprobs = {}
            for detail in details.get(key, []):
                item, k = detail.doc.specific["item_id"].rsplit(_PART, 1)
                logprobs[(item, int(k))] = float(detail.model_response.logprobs[0])
            results["tasks"][name] = {
                "n": len(rows), "chance": chance_level(rows), "source": str(tasks[name]), "scoring": "partial",
                "num_fewshot": num_fewshot(rows),
                **partial_scores(rows, logprobs),
            }
            continue
        scores = aggregated[key]
        results["tasks"][name] = {
            "n": len(rows),
            "chance": chance_level(rows),
            "source": str(tasks[name]),
            "num_fewshot": num_fewshot(rows),
            "metrics": {
                m: {"value": _finite(scores.get(m)), "stderr": _finite(scores.get(f"{m}_stderr"))} for m in EVAL_METRICS
            },
            "items": sorted((_item_result(detail) for detail in details.get(key, [])), key=lambda it: it["id"]),
        }
    return results


def _item_result(detail) -> dict:
    """One item's scores from a lighteval detail: log-likelihood and unpadded token count per choice, metrics."""
    n_choices = len(detail.doc.choices)
    resp = detail.model_response
    return {
        "id": detail.doc.specific["item_id"],
        "gold": detail.doc.gold_index,
        "logprobs": [float(x) for x in resp.logprobs[:n_choices]],
        "choice_tokens": [len([t for t in toks if int(t) != -1]) for toks in resp.output_tokens[:n_choices]],
        **{m: float(detail.metric[m]) for m in EVAL_METRICS},
    }


def _dist_version(name: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return None


def evaluate_job(
    *,
    checkpoint: str,
    tasks: dict[str, str],
    results: str,
    max_samples: int | None | dict,
    batch_size: int,
    seed: int,
    threads: int,
    max_new_tokens: dict[str, int | None] | None = None,
) -> None:
    """The evaluate rule: a checkpoint scored on every task -> its results JSON.

    In: the `checkpoint` folder, `tasks` {name: task jsonl}, the `evaluation`
    settings (`max_samples` and `max_new_tokens` per task) and the run's
    `seed`; `threads`, the job's thread budget, caps torch's threads. Out:
    `results` (see `evaluate_checkpoint`).
    """
    set_torch_threads(threads)
    evaluate_checkpoint(checkpoint, tasks, results, max_samples=max_samples, batch_size=batch_size, seed=seed,
                        max_new_tokens=max_new_tokens)

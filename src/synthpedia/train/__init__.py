"""Training a small Llama on the tokenised mixture.

Two backends share one set of parameters, declared with their defaults in the
config schema (``definitions.train_run.properties.params``):

- ``torch``: :func:`train_torch` (``loop``) trains a transformers
  ``LlamaForCausalLM`` with plain PyTorch (CPU or GPU) and saves an HF
  checkpoint that lighteval loads.
- ``nanotron``: :func:`nanotron_config` (``nanotron``) writes nanotron's YAML
  config for cluster training (e.g. the cosmo-1b preset).

The names below are imported from their module on first use, so that
``synthpedia.train.params`` (the config check, standard library only) can be
imported without torch, transformers, polars or numpy.
"""

from __future__ import annotations

from importlib import import_module

# module of this package -> the public names it defines
_MODULES = {
    "params": ("PRECISIONS", "check_train_params", "grad_accum_for", "lr_at", "schema_train_defaults", "tokens_per_step"),
    "data": ("MixtureSampler",),
    "model": ("llama_config", "load_tokenizer", "save_checkpoint"),
    "precision": ("choose_precision", "cpu_has_native_bf16"),
    "loop": ("train_job", "train_torch"),
    "resume": ("latest_state", "save_state"),
    "launch": ("processes_for", "torchrun_command"),
    "nanotron": ("nanotron_config",),
}
_HOME = {name: module for module, names in _MODULES.items() for name in names}
__all__ = sorted(_HOME)


def __getattr__(name: str):
    """Import the module defining `name` on first access (module-level __getattr__, PEP 562)."""
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{_HOME[name]}"), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))

"""The config's sampling section as each backend's arguments: one mapping for all of them.

Config key `generation.sampling` names its parameters once (max_tokens,
temperature, top_p, top_k, repetition_penalty); each backend takes them with
the request's seed, under its own names where they differ.
"""

from __future__ import annotations

from typing import Mapping

SAMPLING_KEYS = ("max_tokens", "temperature", "top_p", "top_k", "repetition_penalty")

# Config sampling key -> a backend's name for it, where the name differs (None: not sent). The
# OpenAI backend's names come from config key `generation.openai.extra_sampling_names`: a server
# takes the keys outside the OpenAI API under its own names.
RENAMED: dict[str, Mapping[str, str | None]] = {
    "llamacpp": {"repetition_penalty": "repeat_penalty"},
    "vllm": {},
}

# The keys the OpenAI chat API takes as parameters; the others go in the request body.
OPENAI_API_KEYS = ("max_tokens", "temperature", "top_p", "seed")


def sampling_arguments(sampling: dict, seed: int, renamed: Mapping[str, str | None]) -> dict:
    """The keyword arguments of one request: `sampling` (config key `generation.sampling`) and `seed`.

    `renamed`: config key -> the backend's argument name where it differs, None to leave the
    key out (RENAMED, or the OpenAI server's names). Returns argument name -> value.
    """
    arguments = {}
    for key in SAMPLING_KEYS:
        name = renamed.get(key, key)
        if name:
            arguments[name] = sampling[key]
    arguments["seed"] = seed
    return arguments

"""Which precision a run trains in: the config's choice, or what the hardware does fast.

bf16 autocast pays off only where the hardware computes in bf16: GPUs that
support it, and CPUs with AVX512-BF16 or AMX. Elsewhere (e.g. an AVX2-only
CPU) torch emulates it and a step is many times slower than in fp32.
"""

from __future__ import annotations

import logging

from synthpedia.train.params import PRECISIONS

log = logging.getLogger(__name__)

# Words in torch's CPU capability string that name native bf16 arithmetic.
_BF16_CAPABILITIES = ("AMX", "BF16")


def cpu_has_native_bf16() -> bool:
    """True when this CPU computes bf16 natively (AVX512-BF16 or AMX tiles), as torch sees it."""
    import torch

    # torch.cpu reads the CPU's instruction sets through cpuinfo; older builds lack some probes.
    for probe in ("_is_amx_tile_supported", "_is_avx512_bf16_supported"):
        check = getattr(torch.cpu, probe, None)
        if check is not None and check():
            return True
    capability = torch.backends.cpu.get_cpu_capability()
    return any(word in capability for word in _BF16_CAPABILITIES)


def gpu_has_bf16() -> bool:
    """True when the current CUDA device computes bf16 natively (emulation does not count)."""
    import torch

    try:
        return bool(torch.cuda.is_bf16_supported(including_emulation=False))
    except TypeError:  # builds before the including_emulation argument report native support only
        return bool(torch.cuda.is_bf16_supported())


def choose_precision(setting: str, device: str) -> str:
    """The precision to train in, "fp32" or "bf16".

    In: `setting`, the run's ``precision`` param ("auto", "fp32" or "bf16"),
    and `device` ("cpu", "cuda", "cuda:1", ...). An explicit setting wins;
    "auto" picks bf16 on a CUDA device that supports it and on a CPU with
    native bf16, fp32 everywhere else. The choice is logged.
    """
    if setting != "auto" and setting not in PRECISIONS:
        raise ValueError(f"precision must be auto or one of {PRECISIONS}, got {setting!r}")
    if setting != "auto":
        chosen, why = setting, "set in the config"
    elif device.startswith("cuda"):
        native = gpu_has_bf16()
        chosen, why = ("bf16" if native else "fp32"), f"GPU {'has' if native else 'lacks'} native bf16"
    elif device == "cpu":
        native = cpu_has_native_bf16()
        chosen, why = ("bf16" if native else "fp32"), f"CPU {'has' if native else 'lacks'} native bf16"
    else:
        chosen, why = "fp32", f"no bf16 probe for device {device}"
    log.info("train: precision %s (%s: %s)", chosen, setting, why)
    return chosen

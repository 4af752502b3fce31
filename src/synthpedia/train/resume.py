"""Resume states of the torch backend: written atomically every N steps, read back by a rerun.

A state is one folder ``<state_dir>/step-<8 digits>/`` holding ``state.pt``:
the model and optimiser state dicts, the steps done, the tokens seen, the
loss rows so far, the seconds trained and the run's fingerprint. It is written
into a hidden sibling temp folder renamed into place, so a job killed while
writing leaves the previous state whole; older states are removed after the
rename. A state whose fingerprint differs (other params, seed, mixture or
tokenizer) is never resumed from.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)

_PREFIX = "step-"


def _steps_of(folder: Path) -> int | None:
    name = folder.name
    if not name.startswith(_PREFIX) or not name[len(_PREFIX):].isdigit():
        return None
    return int(name[len(_PREFIX):])


def clear_partial_states(state_dir: str | os.PathLike) -> None:
    """Remove the temp folders a killed writer left in `state_dir` (never a finished state)."""
    state_dir = Path(state_dir)
    if state_dir.is_dir():
        for tmp in state_dir.glob(f".{_PREFIX}*.tmp"):
            shutil.rmtree(tmp, ignore_errors=True)


def save_state(state_dir: str | os.PathLike, state: dict) -> Path:
    """Write `state` (with ``steps`` done) as the newest resume state; returns its folder."""
    import torch

    state_dir = Path(state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    final = state_dir / f"{_PREFIX}{int(state['steps']):08d}"
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp", dir=state_dir))
    try:
        torch.save(state, tmp / "state.pt")
        if final.exists():  # the same step written again (a rerun that got no further): replace it
            shutil.rmtree(final)
        os.replace(tmp, final)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    for older in state_dir.iterdir():
        steps = _steps_of(older)
        if steps is not None and steps < state["steps"]:
            shutil.rmtree(older, ignore_errors=True)
    return final


def latest_state(state_dir: str | os.PathLike | None, fingerprint: str, device) -> dict | None:
    """The newest resume state in `state_dir` made by a run of this `fingerprint`, loaded on `device`; else None."""
    import torch

    if state_dir is None or not Path(state_dir).is_dir():
        return None
    found = sorted((s, f) for f in Path(state_dir).iterdir() if (s := _steps_of(f)) is not None)
    for steps, folder in reversed(found):
        try:
            state = torch.load(folder / "state.pt", map_location=device, weights_only=False)
        except (OSError, RuntimeError, EOFError) as err:
            log.warning("train: resume state %s unreadable (%s): skipped", folder, err)
            continue
        if state.get("fingerprint") != fingerprint:
            log.warning("train: resume state %s was made by another run (params, seed, mixture or tokenizer "
                        "changed): starting from step 0", folder)
            return None
        log.info("train: resuming from %s (step %d)", folder, steps)
        return state
    return None


def remove_states(state_dir: str | os.PathLike | None) -> None:
    """Remove `state_dir` once the run's checkpoint is written: nothing is left to resume."""
    if state_dir is not None:
        shutil.rmtree(state_dir, ignore_errors=True)

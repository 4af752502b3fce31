"""Imported first by every job script: makes `synthpedia` this checkout's src/ package.

Snakemake adds this folder to sys.path for `script:` jobs, wherever they run
(locally, on Slurm nodes, in conda envs), so no environment variable is needed.
An environment may also hold synthpedia installed from another checkout, in
editable mode: its import hook would win over a sys.path entry, and the job
would run the other tree's code. A finder placed first on sys.meta_path
resolves `synthpedia` from this checkout's src/ before any other hook is asked.
"""

import importlib.abc
import importlib.machinery
import sys
from pathlib import Path

SRC = str(Path(__file__).resolve().parent.parent / "src")
PACKAGE = "synthpedia"


class _ThisCheckout(importlib.abc.MetaPathFinder):
    """Finds the package in SRC, and its submodules on their parent package's __path__."""

    def find_spec(self, name, path=None, target=None):
        if name == PACKAGE:
            return importlib.machinery.PathFinder.find_spec(name, [SRC])
        if name.startswith(PACKAGE + ".") and path is not None:
            return importlib.machinery.PathFinder.find_spec(name, path)
        return None


if SRC not in sys.path:
    sys.path.insert(0, SRC)
if not any(isinstance(finder, _ThisCheckout) for finder in sys.meta_path):
    sys.meta_path.insert(0, _ThisCheckout())

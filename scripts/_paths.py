"""Imported first by every job script: puts the package (src/) on the path.

Snakemake adds this folder to sys.path for `script:` jobs, wherever they run
(locally, on Slurm nodes, in conda envs), so no environment variable is needed.
"""

import sys
from pathlib import Path

SRC = str(Path(__file__).resolve().parent.parent / "src")
if SRC not in sys.path:
    sys.path.insert(0, SRC)

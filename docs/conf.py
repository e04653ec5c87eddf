"""Sphinx configuration of the otgen documentation site.

Build (strict: every warning is an error, every reference to an otgen object must resolve)::

    sphinx-build -W --keep-going -n -b html docs site

The pages are the Markdown files of ``docs/`` (parsed by myst-parser, formulas in ``$...$`` and
``$$...$$``); the API reference is rendered by autodoc + numpydoc from the docstrings, whose
``:math:``, ``:func:``, ``:class:``, ``:mod:`` roles are reST.  Formulas are typeset by MathJax
(CDN by default; ``-D mathjax_path=file:///.../tex-mml-chtml.js`` for a local copy offline).
"""
from __future__ import annotations

import inspect
import os
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the package itself, also when it is not installed
os.environ.setdefault("OMP_NUM_THREADS", "1")

project = "otgen"
author = "otgen developers"
copyright = "2017-2026, otgen developers; the VEGAN cookbook, Bousquet et al."

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "numpydoc",
    "sphinx.ext.mathjax",
]

root_doc = "index"
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
exclude_patterns = ["_build", "**/.ipynb_checkpoints"]

# -- strictness: references ---------------------------------------------------------------
# Every cross-reference to otgen's own objects must resolve (nitpicky).  Names of other
# libraries (numpy, torch, scipy, builtins in type annotations) have no inventory offline, so
# only their unresolved references are ignored.
nitpicky = True
nitpick_ignore_regex = [
    (r"py:.*", r"(?!otgen\b).*"),
]

# -- Markdown pages (myst-parser) ---------------------------------------------------------
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_dmath_double_inline = True
myst_heading_anchors = 3

# -- API reference (autodoc + numpydoc) ---------------------------------------------------
autodoc_default_options = {"member-order": "bysource"}
autodoc_typehints = "none"  # the numpy-style Parameters sections give the types
add_module_names = True
numpydoc_show_class_members = False  # members come from autodoc's :members:
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
numpydoc_validation_checks: set[str] = set()  # tests/test_docstrings.py checks the sections

# -- HTML ---------------------------------------------------------------------------------
html_theme = "furo"
html_title = "otgen"
html_static_path = ["_static"]
html_css_files = ["otgen.css"]
html_show_sourcelink = False
html_copy_source = False
suppress_warnings = ["myst.header"]  # generated benchmark pages start at H2; robustness.md H1->H3


# -- the module map and cross-references to objects under their defining module -----------
def _submodules() -> list[str]:
    """Every module of the otgen package (``otgen.theory.exact``, ...), sorted."""
    names = []
    for path in sorted((ROOT / "otgen").rglob("*.py")):
        rel = path.relative_to(ROOT).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__main__":
            continue
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names.append(".".join(parts))
    return names


#: the namespaces whose pages document their ``__all__`` (docs/reference/*.md)
NAMESPACE_PAGES = ("otgen", "otgen.theory", "otgen.models", "otgen.evaluate", "otgen.testing",
                   "otgen.verify")


#: internal objects that public docstrings refer to, documented on the module map under their
#: defining module (a reference to another internal object fails the strict build: add it here
#: or write its name as a literal)
INTERNALS = {
    "otgen.theory.simplex": ["sparse_emd"],
    "otgen.theory.entropic": ["solve_sinkhorn"],
    "otgen.theory.ctransform": ["dual_lower_bound", "c_transform_knn"],
    "otgen.theory.costs": ["pair_costs", "CostGeometry"],
    "otgen.theory.certificate": ["ExactProblem"],
    "otgen.theory.rounding": ["dot_interval"],
    "otgen.theory.certify": ["DENSE_PLAN_MAX"],
    "otgen.models.specs": ["spec_for"],
    "otgen.models.distributed": ["fit_distributed"],
    "otgen.models.audit_report": ["write_report"],
    "otgen.models.penalties": ["PENALTIES"],
    "otgen.models.networks": ["Critic"],
    "otgen.models.collective": ["Collective", "TorchDistCollective"],
    "otgen.evaluate.jackknife": ["group_labels"],
}


def _shadowed(module: str) -> bool:
    """True for a module whose name is also a documented function (``otgen.theory.wasserstein``,
    ``otgen.models.audit``): the function keeps the name, the module is listed unindexed."""
    import importlib

    parent, _, last = module.rpartition(".")
    obj = getattr(importlib.import_module(parent), last, None)
    return obj is not None and not inspect.ismodule(obj)


def _module_map(app, docname, source):
    """docs/reference/modules.md lists every module (its docstring), generated here so that a
    new module cannot be missing from the map."""
    if docname != "reference/modules":
        return
    blocks = []
    for name in _submodules():
        if name in NAMESPACE_PAGES:
            continue
        opts = "   :no-index:\n" if _shadowed(name) else ""
        body = f".. automodule:: {name}\n{opts}"
        for member in INTERNALS.get(name, ()):
            obj = _import_target(f"{name}.{member}")[0]
            kind = ("class" if inspect.isclass(obj) else
                    "function" if callable(obj) else "data")
            body += f"\n.. auto{kind}:: {name}.{member}\n"
            if kind == "class":
                body += "   :members:\n"
        blocks.append(f"\n```{{eval-rst}}\n{body}```\n")
    source[0] += "".join(blocks)


_SECTION = re.compile(r"^([A-Z][A-Za-z ]+)\n-{3,}[ \t]*$", re.M)


def _module_sections(app, what, name, obj, options, lines):
    """numpydoc leaves module docstrings alone: their numpy-style section headers
    (``References`` + dashes) would become document sections; make them rubrics."""
    if what != "module":
        return
    text = _SECTION.sub(lambda m: f".. rubric:: {m.group(1)}\n", "\n".join(lines))
    lines[:] = text.split("\n")


def _import_target(name: str) -> list:
    """The Python objects a dotted name may designate: through modules first
    (``otgen.theory.wasserstein.wasserstein`` = the function of the module) and through
    attributes first (``otgen.theory.wasserstein`` = the function the package exports)."""
    import importlib

    found = []
    parts = name.split(".")
    for i in range(len(parts), 0, -1):  # the longest importable module, then attributes
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except Exception:
            continue
        try:
            for attr in parts[i:]:
                obj = getattr(obj, attr)
            found.append(obj)
        except AttributeError:
            pass
        break
    try:  # attributes from the top package
        obj = importlib.import_module(parts[0])
        for attr in parts[1:]:
            obj = getattr(obj, attr)
        found.append(obj)
    except (ImportError, AttributeError):
        pass
    return found


def _documented_alias(app, env, node, contnode):
    """Resolve a reference to an object through the module that defines it
    (``otgen.theory.encoders.encoder_ot``, ``.wasserstein.wasserstein``) to the name it is
    documented under (``otgen.theory.encoder_ot``): same Python object, one page."""
    if node.get("refdomain") != "py":
        return None
    target = node["reftarget"].lstrip("~")
    module = node.get("py:module") or ""
    candidates = [target]
    if module:
        candidates.insert(0, f"{module}.{target.lstrip('.')}")
        if target.startswith("."):
            # a relative name: ``.wasserstein.wasserstein`` inside otgen.theory
            base = module
            while base:
                candidates.append(f"{base}{target}")
                base = base.rpartition(".")[0]
    domain = env.get_domain("py")
    index = env.temp_data.get("otgen_alias_index")
    if index is None:
        index = {}
        for name, entry in domain.objects.items():
            if entry.objtype == "module" or not name.startswith("otgen"):
                continue
            found = _import_target(name)
            if found and not isinstance(found[-1], (int, float, str, bool)):
                index.setdefault(id(found[-1]), name)  # attribute-first: the documented one
        env.temp_data["otgen_alias_index"] = index
    for cand in candidates:
        if not cand.startswith("otgen"):
            continue
        names = [index[id(obj)] for obj in _import_target(cand) if id(obj) in index]
        if node.get("reftype") == "mod" and cand in domain.objects:
            names.insert(0, cand)  # a module shadowed by its function: link the function
        if not names:
            continue
        name = names[0]
        entry = domain.objects[name]
        from sphinx.util.nodes import make_refnode

        return make_refnode(app.builder, node["refdoc"], entry.docname, entry.node_id, contnode,
                            name)
    return None


def setup(app):
    app.connect("source-read", _module_map)
    app.connect("missing-reference", _documented_alias)
    app.connect("autodoc-process-docstring", _module_sections)
    return {"parallel_read_safe": True, "parallel_write_safe": True}

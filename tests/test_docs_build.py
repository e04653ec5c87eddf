"""The documentation site builds strictly and renders what it says.

The site (Sphinx: myst-parser pages, autodoc + numpydoc API reference, MathJax) is built once per
session with warnings as errors and nitpicky references, then every HTML page is read the way a
reader sees it: no reST role (``:math:`...```, ``:func:`...```) or LaTeX command left as text
outside a math element, no formula left in a code span, formulas present where the pages have
them, and the key API objects present in the reference and linked.
"""
from __future__ import annotations

import html
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

pytest.importorskip("sphinx")
pytest.importorskip("myst_parser")
pytest.importorskip("numpydoc")

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"

#: a reST or MyST role left as text: ``:func:`wasserstein```, ``{math}`x```
RAW_ROLE = re.compile(r"(?::(?:py:)?(?:math|func|mod|class|meth|attr|data|obj|exc|ref|doc|term|"
                      r"numref|eq|any):|\{(?:math|eq|func|mod|class|meth|attr|ref|doc|py:\w+)\})`")
#: a LaTeX command left as text (outside a math element)
RAW_LATEX = re.compile(r"\\(?:mathrm|mathbb|mathcal|mathbf|operatorname|sum|prod|int|frac|inf|"
                       r"sup|min|max|sqrt|delta|lambda|mu|sigma|Sigma|alpha|beta|gamma|theta|pi|"
                       r"varepsilon|epsilon|langle|rangle|leq?|geq?|cdot|infty|partial|nabla|"
                       r"log|exp|left|right|big|Big|text|hat|tilde|bar|mid|in|to|top|\|)(?![a-zA-Z])")
#: dollar math that myst did not parse
RAW_DOLLAR = re.compile(r"\$\$|\$\\|\$[A-Za-z]_")
#: a formula written as code: ``sum_i a_i delta_{x_i}``, ``W_p^p``, ``||x - y||_2^p``
CODE_FORMULA = re.compile(r"[_^]\{|\b(?:sum|inf|sup|min|max|delta)_(?:\{|[a-z]{1,2}\b)"
                          r"|\|\|[^|]*\|\|_?\d|\b[A-Z]_[a-z0-9]\^[a-z0-9]\b")


class _Reader(HTMLParser):
    """The text a reader sees, split into prose and inline code, math elements left out."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.prose: list[str] = []
        self.code: list[str] = []
        self.math = 0
        self._stack: list[tuple[str, bool, bool]] = []  # (tag, is_math, is_skipped)
        self._skip = 0
        self._inline_code = 0
        self._pre = 0
        self._code_text: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag in ("br", "img", "meta", "link", "input", "hr", "col", "wbr"):
            return
        classes = (dict(attrs).get("class") or "").split()
        is_math = "math" in classes and tag in ("span", "div")
        skipped = tag in ("script", "style", "title") or is_math
        self.math += is_math
        self._skip += skipped
        if tag == "code" and not self._inline_code and not self._pre:
            self._code_text = []
        self._inline_code += tag == "code"
        self._pre += tag == "pre"
        self._stack.append((tag, is_math, skipped))

    def handle_endtag(self, tag):
        while self._stack:
            t, _, skipped = self._stack.pop()
            self._skip -= skipped
            self._inline_code -= t == "code"
            self._pre -= t == "pre"
            if t == "code" and not self._inline_code and not self._pre:
                self.code.append("".join(self._code_text))
            if t == tag:
                break

    def handle_data(self, data):
        if self._skip:
            return
        if self._inline_code and not self._pre:
            self._code_text.append(data)
        else:
            self.prose.append(data)


def page_problems(text: str) -> list[str]:
    """What a reader of one HTML page would see unrendered (empty when the page is clean)."""
    reader = _Reader()
    reader.feed(text)
    prose = "".join(reader.prose)
    problems = []
    for pattern, what in ((RAW_ROLE, "raw role"), (RAW_LATEX, "raw LaTeX"),
                          (RAW_DOLLAR, "unparsed $ math")):
        for m in pattern.finditer(prose):
            problems.append(f"{what}: ...{prose[max(0, m.start() - 40):m.end() + 40]!r}...")
    for code in reader.code:
        for pattern, what in ((RAW_ROLE, "raw role"), (RAW_LATEX, "raw LaTeX"),
                              (CODE_FORMULA, "formula in a code span")):
            if pattern.search(code):
                problems.append(f"{what}: {html.unescape(code)!r}")
    return problems


def test_page_problems_sees_what_a_reader_sees():
    """The checker flags raw roles, raw LaTeX and code-span formulas, and leaves math alone."""
    clean = ('<p>The cost <span class="math notranslate nohighlight">\\(\\sum_i a_i '
             '\\delta_{x_i}\\)</span> of <a href="#x"><code>wasserstein</code></a>.</p>'
             '<div class="math">\\[\\mathrm{FD} = \\|m\\|^2\\]</div>'
             '<script>MathJax = {tex: {inlineMath: [["\\\\(", "\\\\)"]]}}</script>'
             '<pre>x = y[:, None]  # W_2</pre>')
    assert page_problems(clean) == []
    assert page_problems("<p>see :func:`otgen.theory.wasserstein`</p>")
    assert page_problems("<p>the role :math:`W_2` as text</p>")
    assert page_problems("<p>FD = \\mathrm{tr} S</p>")
    assert page_problems("<p>$$W_2$$ not parsed</p>")
    assert page_problems("<p><code>sum_i a_i delta_{x_i}</code></p>")
    assert page_problems("<p><code>W_p^p</code> as code</p>")
    assert not page_problems("<p><code>method=\"auto\"</code>, <code>n_jobs</code></p>")


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """The site, built strictly: warnings are errors, references to otgen objects must resolve."""
    out = tmp_path_factory.mktemp("site")
    proc = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-n", "-q", "-b", "html",
         "-d", str(out / ".doctrees"), str(DOCS), str(out / "html")],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out / "html"


def test_every_page_renders(site):
    pages = sorted(site.rglob("*.html"))
    sources = {p.relative_to(DOCS).with_suffix("") for p in DOCS.rglob("*.md")}
    built = {p.relative_to(site).with_suffix("") for p in pages}
    assert sources <= built, sorted(map(str, sources - built))
    problems = {}
    for page in pages:
        if page.name in ("genindex.html", "search.html", "py-modindex.html"):
            continue
        found = page_problems(page.read_text(encoding="utf-8"))
        if found:
            problems[str(page.relative_to(site))] = found[:5]
    assert not problems, "\n".join(f"{k}: {v}" for k, v in problems.items())


def _math_count(page: Path) -> int:
    return len(re.findall(r'class="math notranslate', page.read_text(encoding="utf-8")))


def test_formulas_are_math(site):
    """The pages and docstrings with formulas render them as math (MathJax loaded)."""
    for name in ("theory", "theorems", "evaluate", "api", "reference/theory", "reference/models",
                 "reference/evaluate"):
        page = site / f"{name}.html"
        assert _math_count(page) >= 10, f"{name}: {_math_count(page)} formulas"
        assert "mathjax" in page.read_text(encoding="utf-8").lower(), name


def test_api_reference_has_the_key_objects(site):
    expected = {
        "reference/theory": ["otgen.theory.wasserstein", "otgen.theory.ot_cost",
                             "otgen.theory.encoder_ot", "otgen.theory.OTResult",
                             "otgen.theory.sliced_wasserstein", "otgen.theory.GroundCost"],
        "reference/models": ["otgen.models.fit", "otgen.models.audit", "otgen.models.MODELS"],
        "reference/evaluate": ["otgen.evaluate.evaluate", "otgen.evaluate.EvaluationResult"],
        "reference/testing": ["otgen.testing.encoder_problems"],
        "reference/verify": ["otgen.verify.run_checks"],
        "reference/modules": ["module-otgen.theory.exact", "module-otgen.models.train"],
    }
    for name, ids in expected.items():
        text = (site / f"{name}.html").read_text(encoding="utf-8")
        for id_ in ids:
            assert f'id="{id_}"' in text, f"{id_} missing from {name}"
    # cross-references resolve to links: encoder_ot's docstring links wasserstein
    theory = (site / "reference" / "theory.html").read_text(encoding="utf-8")
    assert 'href="#otgen.theory.wasserstein"' in theory
    assert 'href="#otgen.theory.GroundCost"' in theory


def _toctree_pages(page: str) -> list[str]:
    """The page and every page of its toctrees (recursively), as paths under docs/."""
    text = (DOCS / page).read_text()
    out = [page]
    base = Path(page).parent
    for block in re.findall(r"```\{toctree\}\n(.*?)```", text, re.S):
        for line in block.splitlines():
            line = line.strip()
            if not line or line.startswith(":"):
                continue
            m = re.search(r"<([^>]+)>$", line)
            target = (m.group(1) if m else line).strip()
            out += _toctree_pages(str(base / f"{target}.md"))
    return out


def test_readme_links_every_page_source():
    """The README's Documentation list links the source of every page of the site."""
    pages = _toctree_pages("index.md")
    assert "gallery.md" in pages and "reference.md" in pages and "reference/theory.md" in pages
    on_disk = {str(p.relative_to(DOCS)) for p in DOCS.rglob("*.md")}
    assert set(pages) == on_disk, (sorted(on_disk - set(pages)), sorted(set(pages) - on_disk))
    readme = (ROOT / "README.md").read_text()
    missing = [p for p in pages if f"](docs/{p})" not in readme]
    assert not missing, f"README.md does not link docs/{missing}"
    assert "sphinx-build -W --keep-going -n" in readme


def test_gallery_lists_every_example():
    text = (ROOT / "docs" / "gallery.md").read_text()
    for script in sorted((ROOT / "examples").glob("plot_*.py")):
        assert f"examples/{script.name}" in text, f"{script.name} is not in docs/gallery.md"
    for png in sorted((ROOT / "docs" / "gallery").glob("*.png")):
        assert f"gallery/{png.name}" in text


def test_page_sources_have_no_control_characters():
    """A LaTeX formula written through a non-raw Python string turns \\t, \\r, \\f into
    control characters that still build; the page sources must not contain any."""
    import re

    control = re.compile(r"[\x00-\x09\x0b-\x1f]")  # newline (\x0a) is the only one allowed
    bad = {str(p.relative_to(ROOT)): sorted(set(control.findall(p.read_text())))
           for p in (ROOT / "docs").rglob("*.md")}
    assert not {k: v for k, v in bad.items() if v}, bad

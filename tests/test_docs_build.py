"""The documentation site builds in strict mode: broken links or API references fail."""
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("mkdocs")
pytest.importorskip("mkdocstrings_handlers.python")

ROOT = Path(__file__).resolve().parents[1]


def test_mkdocs_build_strict(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-f",
                           str(ROOT / "mkdocs.yml"), "-d", str(tmp_path / "site")],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (tmp_path / "site" / "reference" / "index.html").is_file()
    html = (tmp_path / "site" / "reference" / "index.html").read_text()
    for name in ("otgen.theory.encoder_ot", "otgen.models.fit", "otgen.testing.encoder_problems",
                 "otgen.theory.wasserstein.wasserstein"):
        assert f'id="{name}"' in html, f"{name} missing from the API reference"


def _nav_pages(nav) -> list[str]:
    """Every markdown page of mkdocs' ``nav`` (nested sections flattened)."""
    out = []
    for entry in nav:
        items = entry.values() if isinstance(entry, dict) else [entry]
        for item in items:
            out += _nav_pages(item) if isinstance(item, list) else [item]
    return [p for p in out if isinstance(p, str) and p.endswith(".md")]


def test_readme_links_every_page_source():
    """The README's Documentation list links the source of every page of the site."""
    import yaml

    nav = yaml.safe_load((ROOT / "mkdocs.yml").read_text())["nav"]
    pages = _nav_pages(nav)
    assert "gallery.md" in pages and "reference.md" in pages
    readme = (ROOT / "README.md").read_text()
    missing = [p for p in pages if f"](docs/{p})" not in readme]
    assert not missing, f"README.md does not link docs/{missing}"
    for page in pages:
        assert (ROOT / "docs" / page).is_file(), page
    assert "mkdocs build --strict" in readme


def test_gallery_lists_every_example():
    text = (ROOT / "docs" / "gallery.md").read_text()
    for script in sorted((ROOT / "examples").glob("plot_*.py")):
        assert f"examples/{script.name}" in text, f"{script.name} is not in docs/gallery.md"
    for png in sorted((ROOT / "docs" / "gallery").glob("*.png")):
        assert f"gallery/{png.name}" in text

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


def test_gallery_lists_every_example():
    text = (ROOT / "docs" / "gallery.md").read_text()
    for script in sorted((ROOT / "examples").glob("plot_*.py")):
        assert f"examples/{script.name}" in text, f"{script.name} is not in docs/gallery.md"
    for png in sorted((ROOT / "docs" / "gallery").glob("*.png")):
        assert f"gallery/{png.name}" in text

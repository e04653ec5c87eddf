"""Regenerate the examples gallery: run every ``examples/plot_*.py``, refresh ``docs/gallery/``.

    python -m examples.build_gallery            # run every example, copy its PNG, write the page
    python -m examples.build_gallery --no-run   # only rewrite docs/gallery.md from the docstrings
    python -m examples.build_gallery --check    # exit 1 if docs/gallery.md or the PNGs drifted
    python examples/build_gallery.py ...        # the same, as a script

Each example writes one figure through ``_common.out_path("NAME.png")``; the gallery page
``docs/gallery.md`` is generated from the scripts' docstrings (first line: the section title;
the rest: its text), one section per script in file-name order.  PNGs in ``docs/gallery/`` that
no example writes are removed.  ``tests/test_examples.py`` checks that page and figures match
the scripts, without writing into ``docs/``.
"""
from __future__ import annotations

import argparse
import ast
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent
ROOT = EXAMPLES.parent
GALLERY_DIR = ROOT / "docs" / "gallery"
GALLERY_MD = ROOT / "docs" / "gallery.md"
COMMAND = "python -m examples.build_gallery"

HEADER = f"""# Examples gallery

Short runnable scripts in `examples/`, each under 60 lines and a few seconds on two cores, each
writing one PNG.  Run one with `python examples/plot_theorem_a.py`; figures go to
`$OTGEN_EXAMPLES_OUT` (default `examples/_out`).  `tests/test_examples.py` runs every script and
checks that this page and `docs/gallery/` list exactly the scripts' figures, so the gallery
cannot drift from the code.

This page and its figures are generated: from the repository root,

```bash
{COMMAND}              # run the examples, refresh docs/gallery/ and this page
{COMMAND} --check      # exit 1 if this page or docs/gallery/ is out of date
{COMMAND} --no-run     # rewrite this page only (after editing a docstring)
```

Each section's title and text are the example's docstring; edit the script, not this page.
"""


def scripts() -> list[Path]:
    """Every example script, sorted by file name."""
    return sorted(EXAMPLES.glob("plot_*.py"))


def figure_of(script: Path) -> str:
    """The PNG file name a script writes (its single ``out_path("NAME.png")`` call)."""
    names = re.findall(r"""out_path\(\s*["']([^"']+\.png)["']\s*\)""", script.read_text())
    if len(names) != 1:
        raise ValueError(f"{script.name} must write exactly one PNG through "
                         f"out_path('NAME.png'); found {names}")
    return names[0]


def docstring_of(script: Path) -> tuple[str, str]:
    """``(title, text)`` from a script's docstring: the first line, then the paragraphs."""
    doc = ast.get_docstring(ast.parse(script.read_text()))
    if not doc:
        raise ValueError(f"{script.name} has no docstring")
    lines = doc.strip().splitlines()
    title = lines[0].strip().rstrip(".")
    paragraphs = [" ".join(p.split()) for p in "\n".join(lines[1:]).strip().split("\n\n")]
    return title, "\n\n".join(p for p in paragraphs if p)


def render() -> str:
    """The full text of ``docs/gallery.md``."""
    parts = [HEADER]
    for script in scripts():
        title, text = docstring_of(script)
        png = figure_of(script)
        parts.append(f"## {title}\n\n`examples/{script.name}`\n\n{text}\n\n"
                     f"![{script.stem}](gallery/{png})\n")
    return "\n".join(parts)


def run_example(script: Path, out_dir: Path, timeout: float = 600) -> Path:
    """Run one script with ``OTGEN_EXAMPLES_OUT=out_dir``; the path of the PNG it wrote."""
    env = dict(os.environ, OTGEN_EXAMPLES_OUT=str(out_dir), MPLBACKEND="Agg")
    proc = subprocess.run([sys.executable, str(script)], cwd=EXAMPLES, env=env,
                          capture_output=True, text=True, timeout=timeout)
    png = out_dir / figure_of(script)
    if proc.returncode != 0 or not png.is_file():
        raise RuntimeError(f"{script.name} failed (exit {proc.returncode}):\n{proc.stdout}\n"
                           f"{proc.stderr}")
    return png


def problems() -> list[str]:
    """What is out of date in docs/ (empty when the gallery matches the examples)."""
    out = []
    if not GALLERY_MD.is_file() or GALLERY_MD.read_text() != render():
        out.append(f"{GALLERY_MD.relative_to(ROOT)} is not the rendering of the examples' "
                   "docstrings")
    want = {figure_of(s) for s in scripts()}
    have = {p.name for p in GALLERY_DIR.glob("*.png")}
    out += [f"docs/gallery/{n} is missing" for n in sorted(want - have)]
    out += [f"docs/gallery/{n} belongs to no example" for n in sorted(have - want)]
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog=COMMAND, description=__doc__.splitlines()[0])
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true",
                      help="only check docs/gallery.md and docs/gallery/*.png; exit 1 on drift")
    mode.add_argument("--no-run", action="store_true",
                      help="only rewrite docs/gallery.md (do not run the examples)")
    ap.add_argument("--only", metavar="SUBSTRING",
                    help="run only the scripts whose name contains SUBSTRING")
    args = ap.parse_args(argv)
    if args.check:
        found = problems()
        for p in found:
            print(f"gallery out of date: {p}")
        print(f"(regenerate with `{COMMAND}`)" if found else "gallery up to date")
        return 1 if found else 0
    if not args.no_run:
        GALLERY_DIR.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory() as tmp:
            for script in scripts():
                if args.only and args.only not in script.name:
                    continue
                print(f"running {script.name} ...", flush=True)
                png = run_example(script, Path(tmp))
                shutil.copyfile(png, GALLERY_DIR / png.name)
        if not args.only:
            want = {figure_of(s) for s in scripts()}
            for stale in GALLERY_DIR.glob("*.png"):
                if stale.name not in want:
                    stale.unlink()
                    print(f"removed stale {stale.relative_to(ROOT)}")
    GALLERY_MD.write_text(render())
    print(f"wrote {GALLERY_MD.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

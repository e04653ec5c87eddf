"""Every script of examples/ runs to completion and writes its PNG (the gallery cannot drift)."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
#: script -> the figure it writes
SCRIPTS = {
    "plot_estimators_2d.py": "estimators_2d.png",
    "plot_theorem_a.py": "theorem_a.png",
    "plot_theorem_b.py": "theorem_b_lambda_sweep.png",
    "plot_vae_vs_wae_digits.py": "vae_vs_wae_digits.png",
    "plot_critic_vs_potential.py": "critic_vs_potential.png",
    "plot_penalties_vs_w2.py": "penalties_vs_w2.png",
    "plot_property_test.py": "property_test.png",
    "plot_audit_run.py": "audit_run.png",
}


def test_every_example_is_listed():
    assert sorted(p.name for p in EXAMPLES.glob("plot_*.py")) == sorted(SCRIPTS)


@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_example_runs_and_writes_its_png(script, tmp_path):
    env = dict(os.environ, OTGEN_EXAMPLES_OUT=str(tmp_path), MPLBACKEND="Agg")
    proc = subprocess.run([sys.executable, str(EXAMPLES / script)], cwd=EXAMPLES, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"{script} failed:\n{proc.stdout}\n{proc.stderr}"
    png = tmp_path / SCRIPTS[script]
    assert png.is_file() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_example_is_short_and_documented(script):
    text = (EXAMPLES / script).read_text()
    assert text.startswith('"""'), f"{script} must start with a docstring"
    assert len(text.splitlines()) <= 60, f"{script} is longer than 60 lines"

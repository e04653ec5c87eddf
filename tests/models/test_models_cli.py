"""`otgen train | audit | sample` through typer's runner (the CLI only calls the library)."""
import json

import numpy as np
from typer.testing import CliRunner

from otgen.cli import app

runner = CliRunner()
TINY = ["--epochs", "1", "--hidden", "16,16", "--latent-dim", "2", "--batch-size", "50",
        "--threads", "1"]


def test_train_audit_sample_digits(tmp_path):
    run = tmp_path / "run"
    r = runner.invoke(app, ["train", "wae-mmd", "--data", "digits", "--out", str(run), *TINY])
    assert r.exit_code == 0, r.output
    assert "28 steps done" in r.output  # 1438 // 50 steps per epoch
    r = runner.invoke(app, ["train", "wae-mmd", "--data", "digits", "--out", str(run), *TINY])
    assert "resumed from checkpoint at step 28" in r.output
    r = runner.invoke(app, ["audit", str(run), "--n", "30", "--repeats", "2",
                            "--critic-steps", "5", "--threads", "1", "--cost", "cityblock"])
    assert r.exit_code == 0, r.output
    m = json.loads((run / "audit.json").read_text())
    assert m["n"] == 30 and m["passed"]
    assert m["checks"]["recon_ge_w_encoded_cityblock"]["holds"]
    assert "cost cityblock" in (run / "report.md").read_text()
    assert (run / "report.md").exists() and (run / "samples.png").exists()
    r = runner.invoke(app, ["sample", str(run), "-n", "16", "--out", str(tmp_path / "g.png")])
    assert r.exit_code == 0 and (tmp_path / "g.png").stat().st_size > 500
    r = runner.invoke(app, ["sample", str(run), "-n", "5", "--out", str(tmp_path / "s.npy")])
    s = np.load(tmp_path / "s.npy")
    assert s.shape == (5, 64) and s.min() >= 0 and s.max() <= 1


def test_cli_errors(tmp_path):
    r = runner.invoke(app, ["train", "gan", "--out", str(tmp_path / "x"), *TINY])
    assert r.exit_code == 2 and "unknown model" in r.output
    r = runner.invoke(app, ["train", "vae", "--out", str(tmp_path / "x"), "--hidden", "a,b"])
    assert r.exit_code == 2
    r = runner.invoke(app, ["train", "vae", "--data", "nope", "--out", str(tmp_path / "x")])
    assert r.exit_code == 2 and "unknown data" in r.output
    r = runner.invoke(app, ["audit", str(tmp_path / "missing")])
    assert r.exit_code == 2 and "does not exist" in r.output
    r = runner.invoke(app, ["audit", str(tmp_path / "missing"), "--cost", "manhattan"])
    assert r.exit_code == 2
    r = runner.invoke(app, ["sample", str(tmp_path / "missing"), "--out", "g.png"])
    assert r.exit_code == 2

"""Data-parallel training (DDP, 2 gloo processes on CPU) equals single-process training on the
same global batch: same step-1 loss, same parameters after k steps, identical across ranks."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from otgen.cli import app
from otgen.models import TrainConfig, fit, read_metrics
from otgen.models.distributed import free_port

from ddp_worker import float64_data
from models_testlib import tiny

WORKER = Path(__file__).with_name("ddp_worker.py")
TIMEOUT = 90  # seconds; a hung rendezvous fails the test instead of hanging it


def _torchrun(nproc, args, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(
        [str(WORKER.parent), os.environ.get("PYTHONPATH", "")])}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(nproc),
           "--master_addr", "127.0.0.1", "--master_port", str(free_port()), *args]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=TIMEOUT,
                         cwd=tmp_path)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return out


def _single(cfg):
    saved = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        return fit(cfg, data=float64_data(cfg.validate()))
    finally:
        torch.set_default_dtype(saved)


@pytest.mark.parametrize("kw", [
    {"model": "wae-mmd"},
    {"model": "wae", "penalty": "sliced", "stochastic_encoder": True},
], ids=["wae-mmd", "wae-sliced-stochastic"])
def test_ddp_two_ranks_match_single_process(tmp_path, kw):
    cfg = tiny(epochs=1, log_every=1, checkpoint_every=4, **kw)  # 10 steps of global batch 20
    _torchrun(2, [str(WORKER), str(tmp_path), json.dumps(cfg.to_dict())], tmp_path)
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    ref = _single(cfg)
    s_ref = ref.model.state_dict()
    # (1) parameters identical across ranks
    assert all(torch.equal(r0["state"][k], r1["state"][k]) for k in s_ref)
    # (2) step-1 loss (and its terms) equal the single-process loss on the same global batch
    for key in ("loss", "recon", "penalty"):
        a, b = r0["history"][0][key], ref.history[0][key]
        assert abs(a - b) <= 1e-9 * max(1.0, abs(b)), (key, a, b)
    assert len(r0["history"]) == len(ref.history) == 10
    for h, g in zip(r0["history"], ref.history):
        assert abs(h["loss"] - g["loss"]) <= 1e-7 * max(1.0, abs(g["loss"]))
    # (3) parameters after k = 10 steps equal the single-process ones (float64)
    for k, v in s_ref.items():
        assert torch.allclose(r0["state"][k], v, rtol=1e-7, atol=1e-9), k
    # rank 0 alone wrote the run directory: one metrics line per step, a loadable checkpoint
    assert len(read_metrics(tmp_path / "run")) == 10
    ck = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)
    assert ck["step"] == 10 and all(torch.equal(ck["model"][k], r0["state"][k]) for k in s_ref)


def test_cli_nproc_and_unsupported(tmp_path):
    args = ["train", "wae-mmd", "--data", "mixture", "--epochs", "1", "--batch-size", "20",
            "--hidden", "16,16", "--latent-dim", "2", "--checkpoint-every", "5"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-m", "otgen", *args, "--out", str(tmp_path / "a"),
                          "--nproc", "2"], env=env, capture_output=True, text=True,
                         timeout=TIMEOUT)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert out.stdout.count("steps done") == 1  # rank 0 alone reports
    ck = torch.load(tmp_path / "a" / "checkpoint.pt", weights_only=True)
    assert ck["step"] == 2000 // 20  # mixture default n_train = 2000
    # float32: the same run in one process gives the same losses and parameters
    ref = fit(TrainConfig(model="wae-mmd", data="mixture", epochs=1, batch_size=20,
                          hidden=(16, 16), latent_dim=2, checkpoint_every=5))
    lines = read_metrics(tmp_path / "a")
    assert len(lines) == len(ref.history) == 2  # written once (rank 0), log_every 50
    for h, g in zip(lines, ref.history):
        assert abs(h["loss"] - g["loss"]) <= 1e-5 * abs(g["loss"])
    for k, v in ref.model.state_dict().items():
        assert torch.allclose(ck["model"][k], v, rtol=1e-5, atol=1e-5), k
    # resume under DDP (every rank reads rank 0's checkpoint) == one uninterrupted process
    args[5] = "2"  # --epochs 2
    out = subprocess.run([sys.executable, "-m", "otgen", *args, "--out", str(tmp_path / "a"),
                          "--nproc", "2"], env=env, capture_output=True, text=True,
                         timeout=TIMEOUT)
    assert out.returncode == 0 and "resumed from checkpoint at step 100" in out.stdout
    ref2 = fit(TrainConfig(model="wae-mmd", data="mixture", epochs=2, batch_size=20,
                           hidden=(16, 16), latent_dim=2, checkpoint_every=5))
    ck = torch.load(tmp_path / "a" / "checkpoint.pt", weights_only=True)
    assert ck["step"] == 200 and len(read_metrics(tmp_path / "a")) == 4
    for k, v in ref2.model.state_dict().items():
        assert torch.allclose(ck["model"][k], v, rtol=1e-5, atol=1e-5), k
    # refused before anything is launched
    r = CliRunner().invoke(app, ["train", "vae", "--data", "mixture", "--out",
                                 str(tmp_path / "b"), "--nproc", "2"])
    assert r.exit_code == 2 and "distributed training supports" in r.output
    r = CliRunner().invoke(app, [*args, "--batch-size", "21", "--out", str(tmp_path / "c"),
                                 "--nproc", "2"])
    assert r.exit_code == 2 and "divisible" in r.output
    assert not (tmp_path / "b").exists() and not (tmp_path / "c").exists()

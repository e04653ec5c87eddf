"""Data-parallel training (2 gloo processes on CPU; nccl on CUDA when present) equals
single-process training on the same global batch, for every model kind: same loss terms at
every step, same parameters after k steps (also across a stop/resume), identical across ranks."""
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
from otgen.models.distributed import (backend_for, check_supported, fit_distributed,
                                      free_port, launch)
from otgen.models.train import resolve_device

from ddp_worker import float64_data
from models_testlib import tiny

WORKER = Path(__file__).with_name("ddp_worker.py")
TIMEOUT = 300  # seconds; a hung rendezvous fails the test instead of hanging it
CUDA = torch.cuda.is_available()

#: every model kind (and the encoder / penalty variants whose draws or gathers differ)
KINDS = {
    "wae-mmd": {"model": "wae-mmd"},
    "wae-sliced-stochastic": {"model": "wae", "penalty": "sliced", "stochastic_encoder": True},
    "wae-kl": {"model": "wae", "penalty": "kl"},
    "wae-gan-stochastic": {"model": "wae-gan", "stochastic_encoder": True},
    "vae": {"model": "vae"},
    # an epoch is n_train // batch_size generator updates: 100 rows, n_critic 2 -> 10 steps too
    "wgan-gp": {"model": "wgan-gp", "n_critic": 2,
                "data_options": {"n_train": 100, "n_test": 60, "k": 4}},
}
#: the logged terms of each model (all compared, at every step)
TERMS = {"wae-gan": ("loss", "recon", "penalty", "disc"), "vae": ("loss", "nll", "kl", "recon"),
         "wgan-gp": ("loss", "gap", "gp", "gen")}


def _torchrun(nproc, args, cwd, module=False):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(
        [str(WORKER.parent), os.environ.get("PYTHONPATH", "")])}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(nproc),
           "--master_addr", "127.0.0.1", "--master_port", str(free_port()),
           *(["-m"] if module else []), *args]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=TIMEOUT,
                         cwd=cwd)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return out


def _single(cfg, device="cpu"):
    saved = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        return fit(cfg, data=float64_data(cfg.validate()), device=device)
    finally:
        torch.set_default_dtype(saved)


def _rel(a, b):
    return abs(a - b) / max(1.0, abs(b))


def _check_against_single(tmp_path, cfg, ranks, ref, *, rtol_step1, rtol, stop_at=None):
    """The acceptance checks; returns the measured numbers (printed with -s)."""
    r0 = ranks[0]
    s_ref = {k: v.cpu() for k, v in ref.model.state_dict().items()}
    # (1) parameters (encoder, decoder, discriminator / critic) bitwise identical across ranks
    across = max((r["state"][k] - r0["state"][k]).abs().max().item()
                 for r in ranks[1:] for k in s_ref) if len(ranks) > 1 else 0.0
    assert across == 0.0
    # (2) every logged term at every step equals the single-process value on the global batch
    keys = TERMS.get(cfg.model, ("loss", "recon", "penalty"))
    assert len(r0["history"]) == len(ref.history) == 10
    assert all(set(keys) <= set(h) for h in r0["history"][:1])
    worst = 0.0
    for i, (h, g) in enumerate(zip(r0["history"], ref.history)):
        assert h["step"] == g["step"] == i + 1
        for key in keys:
            if key not in g:  # WGAN-GP: the generator's loss only on its steps
                assert key not in h
                continue
            err = _rel(h[key], g[key])
            assert err <= (rtol_step1 if i == 0 else rtol), (i, key, h[key], g[key])
            worst = max(worst, err)
    # (3) parameters after k = 10 steps (with a stop and resume) equal the single-process ones
    dparam = max((r0["state"][k] - v).abs().max().item() for k, v in s_ref.items())
    for k, v in s_ref.items():
        assert torch.allclose(r0["state"][k], v, rtol=rtol, atol=rtol * 1e-2), k
    assert r0["resumed_from"] == stop_at
    # (4) rank 0 alone wrote the run directory: one metrics line per step, the checkpoint
    lines = read_metrics(tmp_path / "run")
    assert [line["step"] for line in lines] == list(range(1, 11))
    ck = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)
    assert ck["step"] == 10 and ck["done"]
    assert all(torch.equal(ck["model"][k].cpu(), r0["state"][k]) for k in s_ref)
    assert not list((tmp_path / "run").glob(".*.tmp"))  # no torn temporary files left
    return {"max_param_diff_across_ranks": across, "max_term_rel_diff": worst,
            "max_param_diff_vs_single": dparam}


@pytest.mark.parametrize("kw", list(KINDS.values()), ids=list(KINDS))
def test_ddp_two_ranks_match_single_process(tmp_path, kw):
    cfg = tiny(epochs=1, log_every=1, checkpoint_every=4, **kw)  # 10 steps of global batch 20
    # stopped at step 7 (checkpoint), then resumed by a second fit_distributed call
    _torchrun(2, [str(WORKER), str(tmp_path), json.dumps(cfg.to_dict()), "cpu", "7"], tmp_path)
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1)]
    ref = _single(cfg)
    numbers = _check_against_single(tmp_path, cfg, ranks, ref, rtol_step1=1e-12, rtol=1e-9,
                                    stop_at=7)
    print(cfg.model, cfg.penalty, numbers)


@pytest.mark.skipif(not CUDA, reason="needs CUDA (the nccl path)")
@pytest.mark.parametrize("kw", list(KINDS.values()), ids=list(KINDS))
def test_nccl_matches_single_process_on_cuda(tmp_path, kw):
    nproc = min(2, torch.cuda.device_count())  # nccl needs one GPU per process
    cfg = tiny(epochs=1, log_every=1, checkpoint_every=4, **kw)
    _torchrun(nproc, [str(WORKER), str(tmp_path), json.dumps(cfg.to_dict()), "cuda"], tmp_path)
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(nproc)]
    ref = _single(cfg, device="cuda")  # the step noise is drawn on the GPU in both runs
    numbers = _check_against_single(tmp_path, cfg, ranks, ref, rtol_step1=1e-9, rtol=1e-7)
    print("nccl", nproc, cfg.model, cfg.penalty, numbers)


def test_torchrun_module_entry_point(tmp_path):
    """`torchrun --nproc_per_node 2 -m otgen.train ...` (gloo) equals one process in float32."""
    args = ["wae-gan", "--data", "mixture", "--epochs", "1", "--batch-size", "500",
            "--hidden", "8", "--latent-dim", "2", "--checkpoint-every", "3", "--device", "cpu"]
    out = _torchrun(2, ["otgen.train", *args, "--out", str(tmp_path / "run")], tmp_path,
                    module=True)
    assert out.stdout.count("steps done") == 1  # rank 0 alone reports
    ck = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)
    assert ck["step"] == 2000 // 500  # mixture default n_train = 2000
    ref = fit(TrainConfig(model="wae-gan", data="mixture", epochs=1, batch_size=500,
                          hidden=(8,), latent_dim=2, checkpoint_every=3))
    (line,) = read_metrics(tmp_path / "run")  # log_every 50: the last step only
    for key in ("loss", "recon", "penalty", "disc"):
        assert abs(line[key] - ref.history[-1][key]) <= 1e-5 * abs(ref.history[-1][key]), key
    for k, v in ref.model.state_dict().items():
        assert torch.allclose(ck["model"][k], v, rtol=1e-5, atol=1e-6), k


def test_cli_nproc_and_refusals(tmp_path):
    args = ["train", "vae", "--data", "mixture", "--epochs", "1", "--batch-size", "20",
            "--hidden", "16,16", "--latent-dim", "2", "--checkpoint-every", "5",
            "--device", "cpu"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-m", "otgen", *args, "--out", str(tmp_path / "a"),
                          "--nproc", "2"], env=env, capture_output=True, text=True,
                         timeout=TIMEOUT)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert out.stdout.count("steps done") == 1  # rank 0 alone reports
    ck = torch.load(tmp_path / "a" / "checkpoint.pt", weights_only=True)
    assert ck["step"] == 2000 // 20  # mixture default n_train = 2000
    # float32: the same run in one process gives the same losses and parameters
    cfg = TrainConfig(model="vae", data="mixture", epochs=1, batch_size=20, hidden=(16, 16),
                      latent_dim=2, checkpoint_every=5)
    ref = fit(cfg)
    lines = read_metrics(tmp_path / "a")
    assert len(lines) == len(ref.history) == 2  # written once (rank 0), log_every 50
    for h, g in zip(lines, ref.history):
        assert abs(h["loss"] - g["loss"]) <= 1e-5 * abs(g["loss"])
    for k, v in ref.model.state_dict().items():
        assert torch.allclose(ck["model"][k], v, rtol=1e-5, atol=1e-5), k
    # resume under --nproc (every rank reads rank 0's checkpoint) == one uninterrupted process
    args[5] = "2"  # --epochs 2
    out = subprocess.run([sys.executable, "-m", "otgen", *args, "--out", str(tmp_path / "a"),
                          "--nproc", "2"], env=env, capture_output=True, text=True,
                         timeout=TIMEOUT)
    assert out.returncode == 0 and "resumed from checkpoint at step 100" in out.stdout
    ref2 = fit(TrainConfig(**{**cfg.__dict__, "epochs": 2}))
    ck = torch.load(tmp_path / "a" / "checkpoint.pt", weights_only=True)
    assert ck["step"] == 200 and len(read_metrics(tmp_path / "a")) == 4
    for k, v in ref2.model.state_dict().items():
        assert torch.allclose(ck["model"][k], v, rtol=1e-5, atol=1e-5), k
    # the checkpoint holds no per-rank state: one process resumes the 2-process run
    args[5] = "3"  # --epochs 3
    r = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "a")])
    assert r.exit_code == 0 and "resumed from checkpoint at step 200" in r.output, r.output
    ref3 = fit(TrainConfig(**{**cfg.__dict__, "epochs": 3}))
    ck = torch.load(tmp_path / "a" / "checkpoint.pt", weights_only=True)
    assert ck["step"] == 300 and len(read_metrics(tmp_path / "a")) == 6
    for k, v in ref3.model.state_dict().items():
        assert torch.allclose(ck["model"][k], v, rtol=1e-5, atol=1e-5), k
    # refused before anything is launched or written: exit 2, the bad argument named
    for extra, name in ((["--batch-size", "21", "--nproc", "2"], "divisible"),
                        (["--nproc", "0"], "--nproc"),
                        (["--device", "gpu", "--nproc", "2"], "device"),
                        (["--device", "gpu"], "device")):
        r = CliRunner().invoke(app, [*args, *extra, "--out", str(tmp_path / "b")])
        assert r.exit_code == 2 and name in r.output, (extra, r.output)
    assert not (tmp_path / "b").exists()


def test_bad_arguments_raise_value_error_naming_them(tmp_path):
    cfg = TrainConfig(batch_size=10).validate()
    with pytest.raises(ValueError, match="nproc"):
        check_supported(cfg, 0)
    with pytest.raises(ValueError, match="batch_size=10 must be divisible"):
        check_supported(cfg, 3)
    check_supported(TrainConfig(model="wgan-gp", batch_size=12).validate(), 3)  # every kind
    with pytest.raises(ValueError, match="nproc"):
        launch(0, ["train", "vae"])
    for bad in ("gpu", "cuda:x", "cpu:1", "", 3):
        with pytest.raises(ValueError, match="device"):
            resolve_device(bad)
    with pytest.raises(ValueError, match="device"):
        fit(tiny(), device="tpu")
    assert resolve_device("cpu") == torch.device("cpu")
    assert backend_for("cpu") == "gloo" and backend_for("auto") == ("nccl" if CUDA else "gloo")
    assert resolve_device("auto").type == ("cuda" if CUDA else "cpu")
    if not CUDA:  # CUDA asked for on a CPU-only machine: refused before any process group
        for dev in ("cuda", "cuda:0"):
            with pytest.raises(ValueError, match="device=.*CUDA"):
                resolve_device(dev)
            with pytest.raises(ValueError, match="device=.*CUDA"):
                fit_distributed(tiny(), tmp_path / "x", device=dev)
        assert not (tmp_path / "x").exists()

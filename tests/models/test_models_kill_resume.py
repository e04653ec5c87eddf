"""SIGKILL a training process, re-run the same command: it resumes from the last checkpoint and
ends exactly where an uninterrupted run ends, bit for bit."""
import os
import signal
import subprocess
import sys
import time

import torch

from otgen.models import TrainConfig, fit, load_checkpoint, load_run

ARGS = ["train", "wae-mmd", "--data", "mixture", "--epochs", "20", "--batch-size", "20",
        "--hidden", "16,16", "--latent-dim", "2", "--checkpoint-every", "50", "--threads", "1",
        "--device", "cpu"]  # compared bitwise with a CPU fit, also on CUDA machines
# the same run, as the CLI builds it
CONFIG = TrainConfig(model="wae-mmd", data="mixture", epochs=20, batch_size=20, hidden=(16, 16),
                     latent_dim=2, checkpoint_every=50)


def _cmd(out):
    return [sys.executable, "-m", "otgen", *ARGS, "--out", str(out)]


def test_sigkill_then_rerun_resumes(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    run = tmp_path / "killed"
    proc = subprocess.Popen(_cmd(run), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    ck = run / "checkpoint.pt"
    deadline = time.time() + 120
    while not ck.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.002)
    assert proc.poll() is None, "training ended before it could be killed: make it longer"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = load_checkpoint(ck)["step"]  # the checkpoint survived the kill intact
    assert 0 < killed_at < 2000
    out = subprocess.run(_cmd(run), env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    resumed = int(out.stdout.split("resumed from checkpoint at step ")[1].split()[0])
    assert resumed >= killed_at and resumed % 50 == 0 and resumed < 2000
    ref = fit(CONFIG, tmp_path / "ref", threads=1)
    a = load_run(run)
    assert a.step == ref.step == 2000
    sa, sb = a.model.state_dict(), ref.model.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert (run / "metrics.jsonl").read_text().count("\n") == 40  # 2000 / log_every 50

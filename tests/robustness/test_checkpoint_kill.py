"""SIGKILL *inside* a checkpoint write: the previous checkpoint stays the valid "latest", and
re-running resumes to the same final parameters as an uninterrupted run (CPU, fixed seed)."""
import signal
import subprocess
import sys
import textwrap

import torch

from otgen.models import TrainConfig, fit, load_checkpoint

CONFIG = dict(model="wae-mmd", data="mixture", epochs=4, batch_size=20, hidden=(8,),
              latent_dim=2, checkpoint_every=10, seed=3)

KILLER = textwrap.dedent("""
    import os, signal, sys, torch
    from otgen.models import TrainConfig, fit
    real_save, calls = torch.save, []
    def dying_save(obj, f, *a, **k):
        calls.append(1)
        if len(calls) == 3:               # third checkpoint: write half of it, then die
            import io
            buf = io.BytesIO(); real_save(obj, buf, *a, **k)
            f.write(buf.getvalue()[: len(buf.getvalue()) // 2]); f.flush()
            os.kill(os.getpid(), signal.SIGKILL)
        return real_save(obj, f, *a, **k)
    torch.save = dying_save
    fit(TrainConfig(**{config}), sys.argv[1], progress=False, threads=1)
""")


def test_kill_during_checkpoint_write(tmp_path):
    run = tmp_path / "run"
    script = KILLER.format(config=repr(CONFIG))
    proc = subprocess.run([sys.executable, "-c", script, str(run)], capture_output=True,
                          timeout=300)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()[-2000:]
    latest = load_checkpoint(run / "checkpoint.pt")  # intact: the half-written file is a temp
    assert latest["step"] == 20
    assert any(p.name.endswith(".tmp") for p in run.iterdir())  # the torn write is elsewhere
    resumed = fit(TrainConfig(**CONFIG), run, progress=False, threads=1)
    straight = fit(TrainConfig(**CONFIG), tmp_path / "straight", progress=False, threads=1)
    a = load_checkpoint(run / "checkpoint.pt")["model"]
    b = load_checkpoint(tmp_path / "straight" / "checkpoint.pt")["model"]
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    assert resumed.resumed_from == 20 and straight.resumed_from is None
    assert resumed.step == straight.step

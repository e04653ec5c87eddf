"""Worker of test_models_distributed: one rank of a float64 run (launched by torchrun).

usage: python -m torch.distributed.run --nproc_per_node W ... ddp_worker.py OUT CONFIG_JSON
       [DEVICE [STOP_AT]]

Trains ``fit_distributed(CONFIG, OUT/run)`` on DEVICE (default cpu; gloo, or nccl for cuda) in
float64.  With STOP_AT, the run is first stopped at step STOP_AT (``max_steps``; a checkpoint
is written there) and then resumed from that checkpoint by a second call, which rebuilds the
model and reads the run directory like a fresh process; both calls run in a process group this
worker creates (one per process: re-creating the default group on torchrun's store can hang).
Writes OUT/rank{r}.pt = {"state": model state_dict (CPU), "history": all metrics lines,
"resumed_from": step or None}.
"""
import dataclasses
import json
import os
import sys
from pathlib import Path

import torch


def float64_data(cfg):
    from otgen.models import get_data

    d = get_data(cfg.data, seed=cfg.seed, **cfg.data_options)
    return dataclasses.replace(d, train=d.train.double(), test=d.test.double())


def main():
    import torch.distributed as dist

    from otgen.models import TrainConfig
    from otgen.models.distributed import backend_for, fit_distributed

    out, cfg_json = Path(sys.argv[1]), sys.argv[2]
    device = sys.argv[3] if len(sys.argv) > 3 else "cpu"
    stop_at = int(sys.argv[4]) if len(sys.argv) > 4 else None
    torch.set_default_dtype(torch.float64)
    torch.set_num_threads(1)
    cfg = TrainConfig.from_dict(json.loads(cfg_json))
    data = float64_data(cfg.validate())
    history = []
    if stop_at is not None:
        dist.init_process_group(backend_for(device))
        first = fit_distributed(cfg, out / "run", data=data, device=device, max_steps=stop_at)
        assert first.step == stop_at and first.resumed_from is None
        history += first.history
    # without STOP_AT, fit_distributed owns (creates and destroys) the process group
    res = fit_distributed(cfg, out / "run", data=data, device=device)
    history += res.history
    if stop_at is not None:
        dist.destroy_process_group()
    assert not dist.is_initialized()
    rank = int(os.environ["RANK"])
    torch.save({"state": {k: v.cpu() for k, v in res.model.state_dict().items()},
                "history": history, "resumed_from": res.resumed_from},
               out / f"rank{rank}.pt")


if __name__ == "__main__":
    main()

"""Worker of test_models_distributed: one rank of a float64 WAE run (launched by torchrun).

usage: python -m torch.distributed.run --nproc_per_node 2 ... ddp_worker.py OUT_DIR CONFIG_JSON
Writes OUT_DIR/rank{r}.pt = {"state": model state_dict, "history": fit history}; rank 0 also
writes the run directory OUT_DIR/run.
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
    from otgen.models import TrainConfig
    from otgen.models.distributed import fit_distributed

    out, cfg_json = Path(sys.argv[1]), sys.argv[2]
    torch.set_default_dtype(torch.float64)
    torch.set_num_threads(1)
    cfg = TrainConfig.from_dict(json.loads(cfg_json))
    res = fit_distributed(cfg, out / "run", data=float64_data(cfg.validate()))
    rank = int(os.environ["RANK"])
    torch.save({"state": res.model.state_dict(), "history": res.history}, out / f"rank{rank}.pt")


if __name__ == "__main__":
    main()

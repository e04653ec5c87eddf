"""Training-throughput benchmark: otgen's `fit` vs a plain PyTorch loop vs pythae's WAE_MMD.

    python -m benchmarks.training                 # 20 epochs x 3 repeats, 1 thread (~3 min)
    python -m benchmarks.training --quick         # 3 epochs x 2 repeats
    python -m benchmarks.training --threads 2

Same task for every contender: WAE-MMD on the 1,438 training digits (64-D), MLP encoder
64-256-256-8 and decoder 8-256-256-64 (sigmoid), IMQ-MMD summed over the 7 scales, lambda = 10,
Adam lr 1e-3, batch 100 (14 steps per epoch, last partial batch dropped).  Contenders:

* ``otgen.fit`` -- the full loop: NaN/inf guards, gradient-norm check, per-step seeded
  generators, metrics, (no checkpoints: ``out_dir=None``; a second row with checkpoints).
* ``plain torch`` -- the minimal loop a user would write (same nets, same MMD formula).
* ``pythae WAE_MMD`` -- pythae's model (its own forward/loss) stepped by the same minimal loop;
  pythae's own ``BaseTrainer`` is timed too when it runs here.  Skipped if pythae is absent.

Throughput = training samples processed per second of wall time (median over repeats; the
contenders alternate within each repeat, so machine load hits them alike).  Writes
docs/benchmarks_training.json and docs/benchmarks-training.md.  Not a test.
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

DOCS = Path(__file__).resolve().parent.parent / "docs"
HIDDEN, LATENT, BATCH, LR, LAM = (256, 256), 8, 100, 1e-3, 10.0
SCALES = (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)


def _mlp(sizes, final=None):
    layers = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    if final is not None:
        layers.append(final)
    return nn.Sequential(*layers)


def _imq_mmd(q, p):
    n = q.shape[0]
    base = 2.0 * q.shape[1]
    dqq, dpp = torch.cdist(q, q) ** 2, torch.cdist(p, p) ** 2
    dqp = torch.cdist(q, p) ** 2
    out = 0.0
    for s in SCALES:
        c = base * s
        kqq, kpp, kqp = c / (c + dqq), c / (c + dpp), c / (c + dqp)
        out = out + ((kqq.sum() - kqq.diagonal().sum()) / (n * (n - 1))
                     + (kpp.sum() - kpp.diagonal().sum()) / (n * (n - 1)) - 2 * kqp.mean())
    return out


def run_plain(x, epochs, seed=0):
    torch.manual_seed(seed)
    enc = _mlp([x.shape[1], *HIDDEN, LATENT])
    dec = _mlp([LATENT, *HIDDEN, x.shape[1]], nn.Sigmoid())
    opt = torch.optim.Adam([*enc.parameters(), *dec.parameters()], lr=LR)
    n, steps = len(x), 0
    t0 = time.perf_counter()
    for _ in range(epochs):
        perm = torch.randperm(n)
        for i in range(n // BATCH):
            xb = x[perm[i * BATCH:(i + 1) * BATCH]]
            z = enc(xb)
            loss = (dec(z) - xb).pow(2).sum(1).mean() + LAM * _imq_mmd(z, torch.randn_like(z))
            opt.zero_grad()
            loss.backward()
            opt.step()
            steps += 1
    return steps * BATCH / (time.perf_counter() - t0), float(loss.detach())


def run_otgen(x, epochs, seed=0, checkpoints=False):
    from otgen.models import TrainConfig, fit, load_digits

    cfg = TrainConfig(model="wae-mmd", epochs=epochs, hidden=HIDDEN, latent_dim=LATENT,
                      batch_size=BATCH, lr=LR, lam=LAM, seed=seed, log_every=14,
                      checkpoint_every=14 * 5)
    data = load_digits()
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        res = fit(cfg, tmp if checkpoints else None, data=data)
        dt = time.perf_counter() - t0
    return res.step * BATCH / dt, res.history[-1]["loss"]


def _pythae_model(dim):
    from pythae.models import WAE_MMD, WAE_MMD_Config
    from pythae.models.base.base_utils import ModelOutput
    from pythae.models.nn import BaseDecoder, BaseEncoder

    class Enc(BaseEncoder):
        def __init__(self):
            super().__init__()
            self.net = _mlp([dim, *HIDDEN, LATENT])

        def forward(self, x):
            return ModelOutput(embedding=self.net(x))

    class Dec(BaseDecoder):
        def __init__(self):
            super().__init__()
            self.net = _mlp([LATENT, *HIDDEN, dim], nn.Sigmoid())

        def forward(self, z):
            return ModelOutput(reconstruction=self.net(z))

    cfg = WAE_MMD_Config(input_dim=(dim,), latent_dim=LATENT, kernel_choice="imq",
                         reg_weight=LAM, kernel_bandwidth=1.0, scales=list(SCALES))
    return WAE_MMD(cfg, encoder=Enc(), decoder=Dec())


def run_pythae_loop(x, epochs, seed=0):
    torch.manual_seed(seed)
    model = _pythae_model(x.shape[1])
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    n, steps = len(x), 0
    model.train()
    t0 = time.perf_counter()
    for _ in range(epochs):
        perm = torch.randperm(n)
        for i in range(n // BATCH):
            out = model({"data": x[perm[i * BATCH:(i + 1) * BATCH]]})
            opt.zero_grad()
            out.loss.backward()
            opt.step()
            steps += 1
    return steps * BATCH / (time.perf_counter() - t0), float(out.loss.detach())


def run_pythae_trainer(x, epochs, seed=0):
    """pythae's own loop (tqdm bar, logging, final-model save), on the same 1,400 digits."""
    import contextlib
    import io
    import logging

    from pythae.data.preprocessors import DataProcessor
    from pythae.trainers import BaseTrainer, BaseTrainerConfig

    torch.manual_seed(seed)
    model = _pythae_model(x.shape[1])
    n = (len(x) // BATCH) * BATCH
    dp = DataProcessor()  # a numpy array passed directly fails pythae 0.1.2's sanity check
    dataset = dp.to_dataset(dp.process_data(x[:n].numpy()))
    logging.getLogger("pythae").setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory() as tmp, contextlib.redirect_stdout(io.StringIO()), \
            contextlib.redirect_stderr(io.StringIO()):
        cfg = BaseTrainerConfig(output_dir=tmp, num_epochs=epochs, learning_rate=LR,
                                per_device_train_batch_size=BATCH, steps_saving=None,
                                no_cuda=True)
        trainer = BaseTrainer(model=model, train_dataset=dataset, training_config=cfg)
        t0 = time.perf_counter()
        trainer.train()
        dt = time.perf_counter() - t0
    return epochs * n / dt, float("nan")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", type=Path, default=DOCS)
    args = ap.parse_args(argv)
    if args.quick:
        args.epochs, args.repeats = 3, 2
    torch.set_num_threads(args.threads)
    from otgen.models import load_digits

    x = load_digits().train
    contenders = {"plain torch loop": run_plain, "otgen fit": run_otgen,
                  "otgen fit + checkpoints": lambda x, e: run_otgen(x, e, checkpoints=True)}
    try:
        import pythae  # noqa: F401

        contenders["pythae WAE_MMD (minimal loop)"] = run_pythae_loop
        contenders["pythae WAE_MMD (BaseTrainer)"] = run_pythae_trainer
        from importlib.metadata import version

        pythae_version = version("pythae")
    except ImportError:
        pythae_version = None
    for fn in contenders.values():  # warm-up: imports, allocator, first-call costs
        try:
            fn(x, 1)
        except Exception:  # noqa: BLE001 - recorded as unavailable below
            pass
    results = {k: [] for k in contenders}
    errors = {}
    for _ in range(args.repeats):
        for name, fn in contenders.items():
            if name in errors:
                continue
            try:
                results[name].append(fn(x, args.epochs)[0])
            except Exception as exc:  # noqa: BLE001
                errors[name] = f"{type(exc).__name__}: {exc}"[:300]
    rows = []
    base = statistics.median(results["plain torch loop"])
    for name, vals in results.items():
        if not vals:
            continue
        med = statistics.median(vals)
        rows.append({"contender": name, "samples_per_s": med, "runs": vals,
                     "ratio_otgen_fit_over_this": None, "relative_to_plain": med / base})
    ours = next(r["samples_per_s"] for r in rows if r["contender"] == "otgen fit")
    for r in rows:
        r["ratio_otgen_fit_over_this"] = ours / r["samples_per_s"]
    info = {"epochs": args.epochs, "repeats": args.repeats, "threads": args.threads,
            "batch": BATCH, "hidden": HIDDEN, "latent": LATENT, "torch": torch.__version__,
            "pythae": pythae_version, "python": platform.python_version(),
            "machine": platform.machine(), "errors": errors}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "benchmarks_training.json").write_text(json.dumps({"info": info, "rows": rows},
                                                                  indent=2))
    md = ["## Training throughput (WAE-MMD on digits)", "",
          f"{args.epochs} epochs x {args.repeats} repeats, batch {BATCH}, MLP {HIDDEN}, "
          f"d_z {LATENT}, {args.threads} torch thread(s), torch {torch.__version__}, "
          f"pythae {pythae_version}; median samples/s (`python -m benchmarks.training`).", "",
          "| contender | samples/s | otgen fit / this | this / plain torch |", "|---|---|---|---|"]
    for r in rows:
        md.append(f"| {r['contender']} | {r['samples_per_s']:,.0f} | "
                  f"{r['ratio_otgen_fit_over_this']:.2f} | {r['relative_to_plain']:.2f} |")
    for name, err in errors.items():
        md.append(f"\n{name}: not measured ({err})")
    text = "\n".join(md) + "\n"
    (args.out / "benchmarks-training.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()

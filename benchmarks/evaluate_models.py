"""`otgen.evaluate` on the four digits models (not a test): the table in docs/evaluate.md.

    python -m benchmarks.evaluate_models                # 100 epochs each (docs/models.md settings)
    python -m benchmarks.evaluate_models --epochs 20    # quicker

Trains WAE-MMD, WAE-GAN, VAE and WGAN-GP afresh (an older run in --runs is overwritten, not
resumed) with the default settings of `otgen train` (seed 0, one torch thread by default),
draws 359 samples from each (decoder means) and evaluates them against the 359 test digits with
`otgen.evaluate` (pixels as features, 20 bootstrap resamples, the sample-size curve).  The
training digits against the test digits are the reference row: the finite-sample floor of
every number.  Writes docs/evaluate_models.json and prints the markdown table.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
MODELS = ("wae-mmd", "wae-gan", "vae", "wgan-gp")


def _row(name: str, res, seconds: float) -> dict:
    d = res.to_dict()
    return {"model": name, "w2sq": d["w2sq"], "w1": d["w1"], "frechet": d["frechet"],
            "mmd_imq": d["mmd_imq"], "precision": d["precision"], "recall": d["recall"],
            "density": d["density"], "coverage": d["coverage"], "time_s": seconds}


def run(epochs: int, runs: Path, threads: int | None = 1) -> list[dict]:
    from otgen import evaluate
    from otgen.models import TrainConfig, fit
    from otgen.models.audit import sample_run
    from otgen.models.data import load_digits

    data = load_digits()
    test, train = np.asarray(data.test), np.asarray(data.train)
    n = len(test)
    rows = []
    t0 = time.perf_counter()
    rows.append(_row("training digits (floor)", evaluate(test, train[:n], seed=0),
                     time.perf_counter() - t0))
    for kind in MODELS:
        fit(TrainConfig(model=kind, epochs=epochs, seed=0), runs / kind, resume=False,
            threads=threads)
        fake = sample_run(runs / kind, n=n, seed=1)[0].numpy()
        t0 = time.perf_counter()
        rows.append(_row(kind, evaluate(test, fake, seed=0), time.perf_counter() - t0))
    return rows


def table(rows: list[dict]) -> str:
    def iv(q):
        return f"{q['value']:.3f} [{q['lower']:.3f}, {q['upper']:.3f}]"

    def pm(q):
        return f"{q['value']:.3g} +- {q['se']:.2g}"

    lines = ["| samples | W_2^2 certified [lower, upper] | W_2^2 90% population CI | W_1 | "
             "Frechet (lower bound) | MMD^2 IMQ | precision | recall | density | coverage |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        ci = r["w2sq"].get("ci") or [float("nan")] * 2
        lines.append(f"| {r['model']} | {iv(r['w2sq'])} | [{ci[0]:.3f}, {ci[1]:.3f}] | "
                     f"{r['w1']['value']:.3f} | {pm(r['frechet'])} | {pm(r['mmd_imq'])} | "
                     f"{r['precision']['value']:.3f} | {r['recall']['value']:.3f} | "
                     f"{r['density']['value']:.3f} | {r['coverage']['value']:.3f} |")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--epochs", type=int, default=100)
    ap.add_argument("--runs", type=Path, default=ROOT / "runs" / "evaluate")
    ap.add_argument("--threads", type=int, default=1, help="torch threads of the training runs")
    args = ap.parse_args(argv)
    rows = run(args.epochs, args.runs, args.threads)
    (ROOT / "docs" / "evaluate_models.json").write_text(
        json.dumps({"epochs": args.epochs, "threads": args.threads, "rows": rows}, indent=2))
    print(table(rows))


if __name__ == "__main__":
    main()

"""Auditing a saved run: train into a directory, reload it, check it against exact OT.

`otgen.models.fit` writes a run directory (config.json, checkpoint.pt, metrics.jsonl);
`otgen.models.audit_run` reloads it and audits the model on held-out digits: the reconstruction
cost through the encoder must dominate the exact W_c(P_X, G#Q_Z) (a coupling's cost bounds the
optimum), and a critic's certified dual bound must stay below the exact W_1.  Every hard
inequality lands in audit.json["checks"].  The figure shows the training curve from
metrics.jsonl, each check's two sides, and the primal numbers next to the data floor.
"""
import tempfile

import matplotlib.pyplot as plt

from _common import out_path
from otgen.models import TrainConfig, audit_run, fit, read_metrics

with tempfile.TemporaryDirectory() as run_dir:
    fit(TrainConfig(model="wae-mmd", epochs=10, hidden=(128, 128), log_every=5), run_dir,
        threads=1)
    report = audit_run(run_dir, threads=1, n=200, repeats=2, critic_steps=200)
    history = read_metrics(f"{run_dir}/metrics.jsonl")
m = report.metrics
for name, c in m["checks"].items():
    print(f"{'PASS' if c['holds'] else 'FAIL'}  {c['lhs']:.4f} vs {c['rhs']:.4f}  {c['statement']}")
assert report.passed

fig, axes = plt.subplots(1, 3, figsize=(14, 4.2))
steps = [h["step"] for h in history if "loss" in h]
axes[0].plot(steps, [h["loss"] for h in history if "loss" in h])
axes[0].set_xlabel("step")
axes[0].set_title("training loss (metrics.jsonl)")
names = list(m["checks"])
axes[1].barh([k - 0.2 for k in range(len(names))], [m["checks"][n]["lhs"] for n in names], 0.4,
             label="lhs (must be >= rhs)")
axes[1].barh([k + 0.2 for k in range(len(names))], [m["checks"][n]["rhs"] for n in names], 0.4,
             label="rhs")
axes[1].set_yticks(range(len(names)), names, fontsize=7)
axes[1].legend(fontsize=8)
axes[1].set_title(f"audit checks: {'all hold' if report.passed else 'FAILED'}")
w = m["w2sq_test_vs_model"]
bars = {"recon E||X-G(Z)||^2": m["primal"]["squared"]["recon"],
        "W_2^2(P_X, G#Q_Z)": m["primal"]["squared"]["w_encoded"],
        "W_2^2(P_X, G#P_Z)": w["mean"], "data floor": w["data_floor_mean"]}
axes[2].bar(range(4), list(bars.values()), color=["C0", "C1", "C2", "gray"])
axes[2].set_xticks(range(4), list(bars), fontsize=7, rotation=15)
axes[2].set_title("primal: exact OT on 200 test digits")
fig.tight_layout()
fig.savefig(out_path("audit_run.png"), dpi=100)

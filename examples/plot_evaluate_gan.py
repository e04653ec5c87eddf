"""Evaluating generative models with otgen.evaluate: every number with its uncertainty.

A tiny PyTorch GAN written in the script (non-saturating loss, 4000 steps) and an otgen-trained
WAE-MMD (`otgen.models.fit`) learn the 8-Gaussian ring; `otgen.evaluate` compares samples of
each, drawn through a `draw(n)` callable, with 500 held-out points, and so does a second real
sample: the reference, the floor at this n. Bars: certified W_2^2 with its bootstrap interval
for the population value, the Fréchet distance of the Gaussian fits (FID's formula, a lower
bound on W_2^2), and precision / recall / density / coverage (k = 5, +- standard errors). The
numbers answer different questions: the WAE's samples form a diffuse cloud over the disc with
about the right mean and covariance (low Fréchet and W_2^2, yet precision and density near 0),
the GAN's trace the ring through the modes (higher precision) with mass in the wrong places
(higher W_2^2). The reference's bootstrap interval misses the
true W_2^2 = 0: at P = Q the interval is not valid (docs/evaluate.md).
"""
import matplotlib.pyplot as plt
import numpy as np
import torch
from torch import nn

import otgen
from _common import out_path
from otgen.models import TrainConfig, fit, gaussian_mixture

torch.manual_seed(0), torch.set_num_threads(1)  # tiny nets: one thread is fastest
wae = fit(TrainConfig(model="wae-mmd", data="mixture", epochs=100, latent_dim=2, hidden=(64, 64)))
train, test = wae.data.train, wae.data.test.double().numpy()
mlp = lambda i, o: nn.Sequential(nn.Linear(i, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(),
                                 nn.Linear(64, o))
G, D, softplus = mlp(8, 2), mlp(2, 1), nn.functional.softplus
opt_g, opt_d = (torch.optim.Adam(m.parameters(), 1e-3, betas=(0.5, 0.9)) for m in (G, D))
for step in range(4000):
    x, fake = train[torch.randint(0, len(train), (128,))], G(torch.randn(128, 8))
    opt_d.zero_grad(), (softplus(-D(x)) + softplus(D(fake.detach()))).mean().backward()
    opt_d.step(), opt_g.zero_grad(), softplus(-D(fake)).mean().backward(), opt_g.step()
samplers = {"GAN (this script)": lambda n: G(torch.randn(n, 8)),
            "WAE-MMD (otgen.models)": lambda n: wae.model.sample(n),
            "real (reference)": gaussian_mixture(2, 500, seed=1).test}
res = {name: otgen.evaluate(test, s, n=500, seed=0) for name, s in samplers.items()}
print("\n".join(f"--- {name}\n{r}" for name, r in res.items()))

fig, axes = plt.subplots(1, 5, figsize=(21, 4.2))
for ax, (name, r) in zip(axes, res.items()):
    ax.scatter(*r.arrays["real"].T, s=3, label="held-out data")
    ax.scatter(*r.arrays["fake"].T, s=3, label=name)
    ax.set_title(f"{name}: W_2^2 {r.w2sq['value']:.3f}", fontsize=9)
    ax.legend(fontsize=7, loc="center")
for ax, keys in ((axes[3], ("w2sq", "frechet")),
                 (axes[4], ("precision", "recall", "density", "coverage"))):
    for t, (name, r) in enumerate(res.items()):
        e = [getattr(r, k) for k in keys]
        err = [[v["value"] - v["ci"][0] if "ci" in v else v["se"] for v in e],
               [v["ci"][1] - v["value"] if "ci" in v else v["se"] for v in e]]
        ax.bar(np.arange(len(keys)) + (t - 1) * 0.27, [v["value"] for v in e], 0.27,
               yerr=np.clip(err, 0, None), capsize=3, label=name)
    ax.set_xticks(range(len(keys)), keys, fontsize=8)
axes[3].legend(fontsize=7)
axes[3].set_title("W_2^2 (90% population CI) and its Frechet lower bound (+- se)", fontsize=9)
axes[4].set_title("k-NN manifold estimates (+- standard error)", fontsize=9)
fig.tight_layout()
fig.savefig(out_path("evaluate_gan.png"), dpi=90)

"""VAE vs WAE on digits: samples, sharpness (the blur claim) and exact W_2^2 to the test set.

Two models with the same networks are trained briefly with `otgen.models.fit` on sklearn's
8x8 digits: a VAE (negative ELBO) and a WAE-MMD (squared reconstruction cost plus an MMD
penalty on the aggregate posterior).  The VEGAN cookbook predicts blurrier VAE samples: the
E KL term pushes posteriors to overlap and the decoder averages them.  We compare the
Laplacian-variance `sharpness` of real digits and of samples G(Z), Z ~ P_Z, and the exact
W_2^2(P_test, G#P_Z).  Epochs are kept tiny so the script runs in seconds; the full-length
numbers are in docs/models.md.
"""
import matplotlib.pyplot as plt
import numpy as np
import torch

from _common import out_path
from otgen.models import TrainConfig, fit, sharpness
from otgen.theory import wasserstein

runs = {name: fit(TrainConfig(model=name, epochs=25, hidden=(128, 128), seed=0), threads=1)
        for name in ("vae", "wae-mmd")}
data = runs["vae"].data
test = data.test.numpy().astype(np.float64)
real_sharp = sharpness(test, data.image_shape).mean()
print(f"real test digits: sharpness {real_sharp:.3f}")

fig, axes = plt.subplots(1, 3, figsize=(12, 4.3))
g = torch.Generator().manual_seed(0)
for ax, (name, run) in zip(axes[1:], runs.items()):
    y = run.model.sample(len(test), g).numpy().astype(np.float64)
    sh = sharpness(y, data.image_shape).mean()
    w = wasserstein(test, y, p=2, method="exact")
    print(f"{name:8s} sharpness {sh:.3f}  W_2^2(test, samples) = {w.value:.3f} "
          f"[{w.lower:.3f}, {w.upper:.3f}]  ({run.step} steps)")
    grid = y[:36].reshape(6, 6, 8, 8).transpose(0, 2, 1, 3).reshape(48, 48)
    ax.imshow(grid, cmap="gray_r", vmin=0, vmax=1)
    ax.set_title(f"{name}: sharpness {sh:.2f}, W_2^2 {w.value:.2f}")
    ax.axis("off")
real = test[:36].reshape(6, 6, 8, 8).transpose(0, 2, 1, 3).reshape(48, 48)
axes[0].imshow(real, cmap="gray_r", vmin=0, vmax=1)
axes[0].set_title(f"test digits: sharpness {real_sharp:.2f}")
axes[0].axis("off")
fig.suptitle("samples G(Z), Z ~ P_Z, after a short training run (25 epochs)")
fig.tight_layout()
fig.savefig(out_path("vae_vs_wae_digits.png"), dpi=100)

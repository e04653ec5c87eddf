"""A trained WGAN-GP critic vs the exact Kantorovich potential on 2-D data.

By Kantorovich-Rubinstein duality, W_1(P, Q) = sup over 1-Lipschitz f of E_P f - E_Q f; a WGAN
critic trained with the gradient penalty (`otgen.models.gradient_penalty`) approximates the
maximizer.  The exact LP (`wasserstein(..., p=1, method="exact")`) gives W_1 and an optimal
potential.  A critic f with empirical Lipschitz constant L on the samples certifies the lower
bound (E f(X) - E f(Y)) / L <= W_1.  Left: the critic over the plane with both samples (x white, y red); right:
the critic at the sample points against the exact potential (both centered).
"""
import matplotlib.pyplot as plt
import numpy as np
import torch

from _common import out_path
from otgen.models import gaussian_mixture, gradient_penalty
from otgen.theory import wasserstein

torch.manual_seed(0), torch.set_num_threads(1)  # tiny nets: one thread is fastest
x = gaussian_mixture(200, 1, k=8, seed=0).train.double()       # the 8-Gaussian ring
y = 0.6 * torch.randn(200, 2, dtype=torch.float64)                # a blob at the center
critic = torch.nn.Sequential(torch.nn.Linear(2, 64), torch.nn.ReLU(), torch.nn.Linear(64, 64),
                             torch.nn.ReLU(), torch.nn.Linear(64, 1)).double()
opt = torch.optim.Adam(critic.parameters(), lr=2e-3, betas=(0.5, 0.9))
for step in range(800):  # maximize E f(X) - E f(Y) - 10 E (|grad f| - 1)^2
    opt.zero_grad()
    (critic(y).mean() - critic(x).mean() + 10.0 * gradient_penalty(critic, x, y)).backward()
    opt.step()

xn, yn = x.numpy(), y.numpy()
exact = wasserstein(xn, yn, p=1, method="exact")
f_pot, g_pot = exact.potentials                      # f_i + g_j <= ||x_i - y_j||
with torch.no_grad():
    fx, fy = critic(x)[:, 0].numpy(), critic(y)[:, 0].numpy()
pts, vals = np.r_[xn, yn], np.r_[fx, fy]
d = np.linalg.norm(pts[:, None] - pts[None], axis=-1)
lip = np.max(np.abs(vals[:, None] - vals[None]) / np.where(d > 0, d, np.inf))
bound = (fx.mean() - fy.mean()) / lip
print(f"exact W_1 = {exact.value:.4f}; critic value {fx.mean() - fy.mean():.4f}, "
      f"Lip {lip:.3f}, certified bound {bound:.4f} ({bound / exact.value:.1%} of W_1)")
assert bound <= exact.upper * (1 + 1e-9)

fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(10.5, 4.3))
u = np.linspace(-3, 3, 120)
U, V = np.meshgrid(u, u)
with torch.no_grad():
    F = critic(torch.as_tensor(np.c_[U.ravel(), V.ravel()]))[:, 0].numpy().reshape(U.shape)
cs = ax0.contourf(U, V, F / lip, levels=20, cmap="viridis")
fig.colorbar(cs, ax=ax0)
ax0.scatter(*xn.T, s=5, c="w"), ax0.scatter(*yn.T, s=5, c="r")
ax0.set_title(f"critic f / Lip; bound {bound:.3f} vs W_1 {exact.value:.3f}")
pot = np.r_[f_pot, -g_pot]
ax1.scatter(pot - pot.mean(), vals / lip - (vals / lip).mean(), s=6)
lim = np.abs(pot - pot.mean()).max()
ax1.plot([-lim, lim], [-lim, lim], "k--", lw=1)
ax1.set_xlabel("exact Kantorovich potential (LP), centered")
ax1.set_ylabel("critic f / Lip, centered")
ax1.set_title("critic vs exact potential at the samples")
fig.tight_layout()
fig.savefig(out_path("critic_vs_potential.png"), dpi=100)

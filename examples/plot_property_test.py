"""A hypothesis property test of the encoder formulation, run from a script.

`otgen.testing.encoder_problems` draws random instances (data atoms, prior atoms, a decoder G
with a known Lipschitz constant, including non-injective folds and clamps).  The property:
`encoder_ot` equals the exact W_p^p(P_X, G#P_Z) (Theorem A), and the independent encoder
Q(Z|X) = P_Z -- feasible, since its aggregate posterior is the prior -- never beats it.  The
test is an ordinary hypothesis test called as a function; it records the Theorem A error and
the suboptimality gap of the independent encoder, whose distributions the figure shows.
"""
import matplotlib.pyplot as plt
import numpy as np
from hypothesis import given, settings

from _common import out_path
from otgen.testing import encoder_problems
from otgen.theory import encoder_ot, wasserstein

errors, gaps = [], []


@settings(max_examples=150, deadline=None, database=None, derandomize=True)
@given(encoder_problems(max_points=8, max_latent=8))
def test_encoder_ot_is_w_and_beats_the_independent_encoder(problem):
    x, a, z, b, G = problem
    best = encoder_ot(x, z, G, a, b, p=2).value
    w = wasserstein(x, G(z), a, b, p=2, method="exact").value
    assert abs(best - w) <= 1e-9 * (1 + w)
    cost = np.linalg.norm(x[:, None, :] - G(z)[None, :, :], axis=-1) ** 2
    indep = float(a @ cost @ b)                      # plan a b^T: Q(Z|X) = P_Z for every x
    assert indep >= best - 1e-9 * (1 + best)
    errors.append(abs(best - w) / (1 + w))
    gaps.append((indep - best) / indep if indep > 0 else 0.0)


test_encoder_ot_is_w_and_beats_the_independent_encoder()   # raises on a counterexample
print(f"{len(gaps)} examples passed; max Theorem A error {max(errors):.1e}, "
      f"median gap of the independent encoder {np.median(gaps):.1%}")

fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(10, 4))
ax0.hist(np.log10(np.maximum(errors, 1e-18)), bins=20)
ax0.axvline(-9, color="r", ls="--", label="tolerance 1e-9")
ax0.set_xlabel("log10 |encoder_ot - W_2^2| / (1 + W_2^2)  (1e-18 = exactly 0)")
ax0.set_title("Theorem A error over hypothesis examples")
ax0.legend()
ax1.hist(gaps, bins=20)
ax1.set_xlabel("(cost of Q(Z|X) = P_Z - optimum) / cost")
ax1.set_title("suboptimality of the independent encoder (>= 0)")
fig.tight_layout()
fig.savefig(out_path("property_test.png"), dpi=100)

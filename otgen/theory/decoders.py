r"""The decoder side of the paper's programs: Lipschitz constants, the optimal decoder of a fixed
encoder, and the sharpness (blur) of images.

* :func:`lipschitz_constant` -- the constant :math:`\gamma` that Theorem B compares to
  :math:`\lambda` (:func:`otgen.theory.encoders.penalized_ot`).
* :func:`conditional_mean_decoder`, :func:`sharpness` -- the optimal decoder of a fixed Gaussian
  encoder and the blur measure used to show why VAE samples are blurry.

References
----------
O. Bousquet, S. Gelly, I. Tolstikhin, C.-J. Simon-Gabriel, B. Schölkopf. From optimal transport
to generative modeling: the VEGAN cookbook. arXiv:1705.07642, 2017 (Theorem 3, Section 4).
"""
from __future__ import annotations

import numpy as np
from scipy.special import logsumexp

from .._validate import check_points, check_weights, is_tensor
from .costs import BLOCK_ENTRIES, cost_matrix
from .encoders import decode


# --- Lipschitz constants --------------------------------------------------------------------
def lipschitz_constant(G, z=None, other=None, *, linear: bool = False) -> float:
    r"""Lipschitz constant of a map G (Euclidean norms), exact where it can be.

    * ``G`` a matrix ``A`` (array or tensor, acting as :math:`z \mapsto A z`) or a
      ``torch.nn.Linear``: the exact global constant :math:`\|A\|_2` (largest singular value).
    * ``G`` a callable and ``linear=True``: G is taken to be affine, its matrix is read off
      ``dz + 1`` evaluations (:math:`A e_k = G(e_k) - G(0)`), the affinity is checked on ``z``, and
      :math:`\|A\|_2` is returned (exact, global).
    * Otherwise the constant of G *restricted to a finite set*:
      :math:`\max_{i \ne j} \|G(z_i) - G(z_j)\| / \|z_i - z_j\|` over pairs of rows of ``z``, or,
      when ``other`` is given, over the cross pairs :math:`(z_i, w_j)`.  This is exact on that set
      and a lower bound on the global constant.  Theorem B needs exactly the cross-pair constant
      between the latent grid and the prior atoms (see :func:`penalized_ot`).

    Parameters
    ----------
    G : callable, 2-D array/tensor, or torch.nn.Linear
        The map, (m, dz) -> (m, d) for callables.
    z : array (m, dz), optional
        Points where G is evaluated (required for callables).
    other : array (m2, dz), optional
        Second set; only cross pairs (z_i, other_j) are used.
    linear : bool
        Declare a callable G affine (exact constant).

    Returns
    -------
    float
        :math:`\gamma` in units of :math:`\|G(z)\| / \|z\|`; 0.0 when fewer than two distinct
        points are given.

    Raises
    ------
    ValueError
        ``z`` missing for a callable, dimension mismatch, G not affine although
        ``linear=True``, G(z) malformed, or G taking different values at equal points.

    Examples
    --------
    >>> lipschitz_constant(np.diag([3.0, 1.0]))
    3.0
    >>> lipschitz_constant(lambda u: u ** 2, np.array([[0.0], [1.0], [2.0]]))  # on 3 points
    3.0

    References
    ----------
    O. Bousquet, S. Gelly, I. Tolstikhin, C.-J. Simon-Gabriel, B. Schölkopf. From optimal
    transport to generative modeling: the VEGAN cookbook. arXiv:1705.07642, 2017 (Theorem 3:
    the constant :math:`\gamma` compared with :math:`\lambda`).  G. H. Golub, C. F. Van Loan.
    Matrix Computations, 4th ed., 2013 (the spectral norm as the largest singular value).
    """
    A = _as_matrix(G)
    if A is not None:
        return float(np.linalg.norm(A, 2)) if A.size else 0.0
    if z is None:
        raise ValueError("z is required to measure the Lipschitz constant of a callable G "
                         "(pass the latent points where G is evaluated)")
    zv = check_points(z, "z").astype(np.float64)
    z_in = z if is_tensor(z) else zv
    if linear:
        return _affine_constant(G, zv, z_in)
    gz = decode(G, z_in, zv.shape[0])
    if other is None:
        return _max_ratio(zv, gz, zv, gz)
    ov = check_points(other, "other").astype(np.float64)
    if ov.shape[1] != zv.shape[1]:
        raise ValueError(f"other has dimension {ov.shape[1]} but z has dimension {zv.shape[1]}")
    go = decode(G, other if is_tensor(other) else ov, ov.shape[0], gz.shape[1])
    return _max_ratio(zv, gz, ov, go)


def _as_matrix(G):
    """The matrix of G when G *is* a linear map (array, tensor, nn.Linear), else None."""
    if is_tensor(G) or isinstance(G, (np.ndarray, list)):
        A = check_points(G.detach().cpu().numpy() if is_tensor(G) else np.asarray(G), "G")
        return A.astype(np.float64)
    try:
        import torch

        if isinstance(G, torch.nn.Linear):
            return G.weight.detach().cpu().numpy().astype(np.float64)
    except ImportError:  # pragma: no cover
        pass
    return None


def _affine_constant(G, zv, z_in) -> float:
    dz = zv.shape[1]
    basis = np.vstack([np.zeros((1, dz)), np.eye(dz)])
    if is_tensor(z_in):
        import torch

        basis_in = torch.as_tensor(basis, dtype=z_in.dtype, device=z_in.device)
    else:
        basis_in = basis
    gb = decode(G, basis_in, dz + 1)
    At = gb[1:] - gb[:1]                  # rows: A e_k, i.e. A^T
    gz = decode(G, z_in, zv.shape[0], gb.shape[1])
    resid = np.abs(gz - (gb[:1] + zv @ At)).max()
    scale = 1.0 + np.abs(gz).max() + np.abs(gb).max()
    if resid > 1e-8 * scale * (1.0 + np.abs(zv).max()):
        raise ValueError(f"linear=True but G is not affine on z: G(z) differs from "
                         f"G(0) + A z by up to {resid:.3g}; drop linear=True to measure the "
                         "constant on the points z instead")
    return float(np.linalg.norm(At, 2))


def _max_ratio(z1, g1, z2, g2) -> float:
    best = 0.0
    # G evaluated on differently shaped batches may round differently (BLAS kernels), so equal
    # latent points only prove G random when their images differ beyond rounding
    noise = 1e-9 * (1.0 + max(np.abs(g1).max(), np.abs(g2).max()))
    rows = max(1, int(BLOCK_ENTRIES) // max(z2.shape[0] * (z1.shape[1] + g1.shape[1]), 1))
    for s in range(0, z1.shape[0], rows):
        dz = np.sqrt(cost_matrix(z1[s:s + rows], z2, 2.0))
        dg = np.sqrt(cost_matrix(g1[s:s + rows], g2, 2.0))
        same = dz == 0
        if np.any(dg[same] > noise):
            raise ValueError("G returned different values at equal latent points; a Lipschitz "
                             "constant needs a deterministic G (is G random?)")
        ratio = np.divide(dg, dz, out=np.zeros_like(dg), where=~same)
        best = max(best, float(ratio.max(initial=0.0)))
    return best


# --- the optimal decoder of a fixed encoder, and blur ----------------------------------------
class ConditionalMeanDecoder:
    r"""The optimal decoder of a fixed Gaussian encoder under squared loss: :math:`E[X | Z = z]`.

    For data :math:`P_X = \sum_i a_i \delta_{x_i}` and encoder
    :math:`Q(Z|x_i) = N(\mu_i, \mathrm{diag}(\sigma_i^2))`,

    .. math::
        G^*(z) = \arg\min_y \mathbb{E}\big[\|X - y\|^2 \,\big|\, Z = z\big]
               = \sum_i w_i(z)\, x_i, \qquad
        w_i(z) = \frac{a_i\, N(z; \mu_i, \sigma_i^2)}{\sum_l a_l\, N(z; \mu_l, \sigma_l^2)} .

    Where posteriors of different inputs overlap, :math:`G^*` averages their images: blur.
    Build it with :func:`conditional_mean_decoder`.

    Parameters
    ----------
    x : array (n, d)
        Data atoms (float64, validated by :func:`conditional_mean_decoder`).
    means : array (n, dz)
        Posterior means :math:`\mu_i`.
    stds : array (n, dz)
        Posterior standard deviations :math:`\sigma_i > 0`.
    a : array (n,)
        Data weights summing to 1.

    Examples
    --------
    >>> x = np.array([[0.0, 0.0], [2.0, 0.0]])
    >>> dec = conditional_mean_decoder(x, means=np.array([[0.0], [1.0]]), stds=0.5)
    >>> dec
    ConditionalMeanDecoder(n=2, d=2, dz=1)
    >>> dec.posterior(np.array([[0.5]]))    # halfway between the posteriors: equal weights
    array([[0.5, 0.5]])

    References
    ----------
    O. Bousquet, S. Gelly, I. Tolstikhin, C.-J. Simon-Gabriel, B. Schölkopf. From optimal
    transport to generative modeling: the VEGAN cookbook. arXiv:1705.07642, 2017 (Section 4,
    why VAE samples are blurry).
    """

    def __init__(self, x, means, stds, a):
        self.x, self.means, self.stds, self.a = x, means, stds, a

    def posterior(self, z) -> np.ndarray:
        r"""Posterior weights :math:`w_i(z_j) = P(X = x_i \mid Z = z_j)`, shape (m, n)."""
        zv = check_points(z, "z", dim=self.means.shape[1]).astype(np.float64)
        logw = np.log(self.a, out=np.full(self.a.shape, -np.inf), where=self.a > 0)
        logw = logw - np.log(self.stds).sum(1)
        out = np.empty((zv.shape[0], self.x.shape[0]))
        rows = max(1, int(BLOCK_ENTRIES) // max(self.means.size, 1))
        for s in range(0, zv.shape[0], rows):
            u = (zv[s:s + rows, None, :] - self.means[None]) / self.stds[None]
            lw = logw[None, :] - 0.5 * np.einsum("jik,jik->ji", u, u)
            out[s:s + rows] = np.exp(lw - logsumexp(lw, axis=1, keepdims=True))
        return out

    def __call__(self, z) -> np.ndarray:
        """Decoded points :math:`G^*(z_j)`, shape (m, d)."""
        return self.posterior(z) @ self.x

    def __repr__(self) -> str:
        return (f"ConditionalMeanDecoder(n={self.x.shape[0]}, d={self.x.shape[1]}, "
                f"dz={self.means.shape[1]})")


def conditional_mean_decoder(x, means, stds, a=None) -> ConditionalMeanDecoder:
    r"""Optimal (squared-loss) decoder :math:`z \mapsto E[X \mid Z = z]` of a Gaussian encoder.

    Parameters
    ----------
    x : array (n, d)
        Data atoms (e.g. flattened images).
    means : array (n, dz)
        Posterior means :math:`\mu_i` of :math:`Q(Z \mid x_i)`.
    stds : float, array (n,) or array (n, dz)
        Posterior standard deviations :math:`\sigma_i > 0`.
    a : array (n,), optional
        Data weights (uniform when None).

    Returns
    -------
    ConditionalMeanDecoder
        Callable (m, dz) -> (m, d); ``.posterior(z)`` gives the weights :math:`w_i(z)`.

    Raises
    ------
    ValueError
        Shapes inconsistent with ``x``, non-finite values, or a non-positive std.

    Examples
    --------
    >>> x = np.array([[0.0, 0.0], [2.0, 0.0]])
    >>> dec = conditional_mean_decoder(x, means=np.array([[0.0], [1.0]]), stds=0.5)
    >>> dec(np.array([[0.0], [0.5], [1.0]])).round(3)   # images pulled toward their mean
    array([[0.238, 0.   ],
           [1.   , 0.   ],
           [1.762, 0.   ]])

    References
    ----------
    O. Bousquet, S. Gelly, I. Tolstikhin, C.-J. Simon-Gabriel, B. Schölkopf. From optimal
    transport to generative modeling: the VEGAN cookbook. arXiv:1705.07642, 2017 (Section 4).
    D. P. Kingma, M. Welling. Auto-Encoding Variational Bayes. ICLR 2014.
    """
    xv = check_points(x, "x").astype(np.float64)
    n = xv.shape[0]
    mu = check_points(means, "means").astype(np.float64)
    if mu.shape[0] != n:
        raise ValueError(f"means has {mu.shape[0]} rows but x has {n} points: one posterior "
                         "mean per data point")
    sd = stds_array(stds, n, mu.shape[1])
    av = check_weights(a, n, "a")
    return ConditionalMeanDecoder(xv, mu, sd, av / av.sum())


def stds_array(stds, n: int, dz: int, name: str = "stds") -> np.ndarray:
    """Broadcast posterior standard deviations (scalar, (n,) or (n, dz)) to (n, dz), validated."""
    sd = np.asarray(stds.detach().cpu() if is_tensor(stds) else stds, dtype=np.float64)
    if sd.ndim == 1 and sd.shape[0] == n:
        sd = sd[:, None]
    if sd.ndim > 2 or (sd.ndim >= 1 and sd.shape[0] not in (1, n)) or \
            (sd.ndim == 2 and sd.shape[1] not in (1, dz)):
        raise ValueError(f"{name} must be a scalar, shape ({n},) or ({n}, {dz}), got shape "
                         f"{sd.shape}")
    if not np.all(np.isfinite(sd)) or np.any(sd <= 0):
        raise ValueError(f"{name} must be finite and > 0 (a Gaussian posterior needs a positive "
                         f"standard deviation), got min {np.min(sd):.3g}")
    return np.broadcast_to(sd, (n, dz)).copy()


def sharpness(images, shape: tuple[int, int] | None = None):
    r"""Sharpness of images: the variance of their discrete Laplacian (higher = sharper).

    The Laplacian uses the 3x3 kernel :math:`[[0, 1, 0], [1, -4, 1], [0, 1, 0]]` on interior
    pixels only (no padding, so image borders add no artificial edges); the variance is the
    population variance over those pixels.  Averaging images (blur) lowers it.

    .. math::
        \mathrm{sharpness}(I) = \mathrm{Var}_{(u, v)\ \mathrm{interior}}
        \big(I_{u-1,v} + I_{u+1,v} + I_{u,v-1} + I_{u,v+1} - 4 I_{u,v}\big)

    Parameters
    ----------
    images : array or tensor (h, w), (n, h, w), or (h*w,), (n, h*w) with ``shape=(h, w)``
        Pixel intensities (any units).
    shape : (int, int), optional
        Image shape (h, w), needed for flattened images, e.g. ``(8, 8)`` for sklearn digits;
        images already of that shape are taken as they are.

    Returns
    -------
    float or array (n,)
        A float for one image, an array (n,) for a batch; in squared pixel-intensity units.

    Raises
    ------
    ValueError
        Non-finite pixels, images smaller than 3x3, or ``shape`` inconsistent with the data.

    Examples
    --------
    >>> sharpness(np.indices((5, 5)).sum(0).astype(float))   # a linear ramp has no curvature
    0.0
    >>> checker = np.indices((4, 4)).sum(0) % 2.0             # Laplacian +-4 on the interior
    >>> sharpness(np.stack([checker, checker]).reshape(2, 16), shape=(4, 4))
    array([16., 16.])

    References
    ----------
    J. L. Pech-Pacheco, G. Cristóbal, J. Chamorro-Martínez, J. Fernández-Valdivia. Diatom
    autofocusing in brightfield microscopy: a comparative study. ICPR 2000 (variance of the
    Laplacian).  O. Bousquet et al. The VEGAN cookbook. arXiv:1705.07642, 2017 (blurry VAE
    samples).
    """
    arr = np.asarray(images.detach().cpu() if is_tensor(images) else images, dtype=np.float64)
    if shape is not None and not (arr.ndim in (2, 3) and arr.shape[-2:] == tuple(shape)):
        h, w = (int(v) for v in shape)
        if arr.ndim not in (1, 2) or arr.shape[-1] != h * w:
            raise ValueError(f"shape={shape} needs images flattened to {h * w} pixels, got array "
                             f"of shape {arr.shape}")
        arr = arr.reshape(*arr.shape[:-1], h, w)
    if arr.ndim not in (2, 3):
        raise ValueError(f"images must have shape (h, w) or (n, h, w) (or pass shape= for "
                         f"flattened images), got shape {arr.shape}")
    if arr.shape[-1] < 3 or arr.shape[-2] < 3:
        raise ValueError(f"images must be at least 3x3 pixels for a 3x3 Laplacian, got "
                         f"{arr.shape[-2:]}")
    if not np.all(np.isfinite(arr)):
        raise ValueError("images contain NaN or infinite pixels")
    c = arr[..., 1:-1, 1:-1]
    lap = (arr[..., :-2, 1:-1] + arr[..., 2:, 1:-1] + arr[..., 1:-1, :-2] + arr[..., 1:-1, 2:]
           - 4 * c)
    v = lap.reshape(*lap.shape[:-2], -1).var(axis=-1)
    return float(v) if arr.ndim == 2 else v

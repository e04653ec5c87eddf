r"""``evaluate``: compare a generative model's samples with real data, every number with its
uncertainty.  See docs/evaluate.md for what each number means."""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from .._validate import check_choice, check_int, check_positive
from ..theory import wasserstein
from .curve import sample_size_curve
from .features import apply_features, describe_features
from .frechet import frechet_distance
from .inputs import prepare_pair
from .jackknife import group_labels
from .manifold import prdc
from .mmd import SCALES, kernel_mmds, median_bandwidth
from .transport import TOL, certified_w, longest_moves

#: ground costs evaluate knows (W_2^2 and W_1 are both reported under "sqeuclidean")
COSTS = ("sqeuclidean",)
#: the quantities of the report (and of the sample-size curve), in order
QUANTITIES = ("w2sq", "w1", "frechet", "mmd_imq", "mmd_rbf", "kid", "precision", "recall",
              "density", "coverage")
#: OT moves drawn in the projection plot
MOVES = 30


@dataclass(repr=False)
class EvaluationResult:
    r"""What :func:`evaluate` returns: each number with its uncertainty.

    Attributes
    ----------
    n : int
        Samples used on each side.
    w2sq, w1 : dict
        Certified :math:`W_2^2` / :math:`W_1` between the samples: ``value``, ``lower``,
        ``upper`` (contain the exact OT cost of the two empirical measures), ``ci`` (bootstrap
        interval for the population value, level ``level``), ``method``, ``converged``.
    frechet : dict
        Fréchet distance of the Gaussian fits (FID's formula; a lower bound on :math:`W_2^2`):
        ``value``, ``se``, ``gap_to_w2sq`` (``value``, ``lower``, ``upper``: the certified
        :math:`W_2^2` minus it) and ``holds`` (``value <= w2sq.upper``).
    mmd_imq, mmd_rbf, kid : dict
        Unbiased MMD^2 (IMQ, RBF, KID's cubic polynomial kernel): ``value``, ``se``, kernel
        parameters.
    precision, recall, density, coverage : dict
        k-NN manifold estimates: ``value``, ``se`` (given the balls), ``k``.
    sample_size_curve : dict or None
        Each quantity at n/8, n/4, n/2, n (see :mod:`otgen.evaluate.curve`).
    settings : dict
        Cost, features, k, repeats, level, seed, dimensions, image shape, time.
    arrays : dict
        Features, images and the OT plan's longest moves, for the report (not in ``to_dict``).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> res = evaluate(rng.normal(size=(64, 2)), rng.normal(size=(64, 2)), seed=0, repeats=0,
    ...                curve=False)
    >>> sorted(res.to_dict())[:4]
    ['coverage', 'density', 'frechet', 'kid']

    References
    ----------
    See :func:`evaluate`.
    """

    n: int
    w2sq: dict
    w1: dict
    frechet: dict
    mmd_imq: dict
    mmd_rbf: dict
    kid: dict
    precision: dict
    recall: dict
    density: dict
    coverage: dict
    sample_size_curve: dict | None
    settings: dict
    arrays: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        """The JSON object of ``otgen evaluate --json``: every field except ``arrays``."""
        return {"n": self.n, **{q: getattr(self, q) for q in QUANTITIES},
                "sample_size_curve": self.sample_size_curve, "settings": self.settings}

    def __repr__(self) -> str:
        s = self.settings
        lines = [f"EvaluationResult(n={self.n}, d={s['dim']}, features={s['features']}, "
                 f"k={s['k']}, seed={s['seed']}, {s['time_s']:.2f} s)"]
        for name, label in (("w2sq", "W_2^2"), ("w1", "W_1")):
            e = getattr(self, name)
            ci = (f"  {100 * e['level']:g}% CI (population) [{e['ci'][0]:.5g}, {e['ci'][1]:.5g}]"
                  if e["ci"] else "")
            lines.append(f"  {label:<11}{e['value']:.5g}  certified [{e['lower']:.5g}, "
                         f"{e['upper']:.5g}]{ci}")
        f = self.frechet
        lines.append(f"  {'Frechet':<11}{f['value']:.5g} +- {f['se']:.2g}  (Gelbrich lower "
                     f"bound on W_2^2; gap {f['gap_to_w2sq']['value']:.5g})")
        for name, label in (("mmd_imq", "MMD^2 IMQ"), ("mmd_rbf", "MMD^2 RBF"), ("kid", "KID"),
                            ("precision", "precision"), ("recall", "recall"),
                            ("density", "density"), ("coverage", "coverage")):
            e = getattr(self, name)
            lines.append(f"  {label:<11}{e['value']:.5g} +- {e['se']:.2g}")
        return "\n".join(lines)


def _check_options(cost, k, repeats, level, curve_repeats, seed):
    check_choice(cost, "cost", COSTS)
    k = check_int(k, "k", 1)
    repeats = check_int(repeats, "repeats", 0)
    if repeats == 1:
        raise ValueError("repeats must be 0 (no bootstrap) or >= 2, got 1")
    level = check_positive(level, "level")
    if not level < 1:
        raise ValueError(f"level must lie in (0, 1), got {level}")
    curve_repeats = check_int(curve_repeats, "curve_repeats", 1)
    if seed is not None:
        check_int(seed, "seed", 0)
    return k, repeats, level, curve_repeats


def _point_values(x, y, k: int, bandwidth: float) -> dict:
    """Every quantity's value (no uncertainty) on one sample pair: the curve's measure."""
    mm = kernel_mmds(x, y, bandwidth=bandwidth)
    pr = prdc(x, y, k)
    return {"w2sq": float(wasserstein(x, y, p=2, tol=TOL).value),
            "w1": float(wasserstein(x, y, p=1, tol=TOL).value),
            "frechet": frechet_distance(x, y)[0], "mmd_imq": mm["imq"][0],
            "mmd_rbf": mm["rbf"][0], "kid": mm["poly"][0],
            **{q: pr[q][0] for q in ("precision", "recall", "density", "coverage")}}


def _frechet_entry(value, se, w2: dict) -> dict:
    gap = {b: w2[b] - value for b in ("value", "lower", "upper")}
    holds = value <= w2["upper"] * (1 + 1e-9) + 1e-12
    return {"value": value, "se": se, "covariance": "1/n (the empirical measures' moments)",
            "gap_to_w2sq": gap, "holds": bool(holds)}


def _kernel_entries(mm: dict, bandwidth: float) -> dict:
    scales = [s * bandwidth for s in SCALES]
    return {"mmd_imq": {"value": mm["imq"][0], "se": mm["imq"][1], "kernel": "mean_s C_s / "
                        "(C_s + |x-y|^2)", "bandwidth": bandwidth, "scales": scales},
            "mmd_rbf": {"value": mm["rbf"][0], "se": mm["rbf"][1], "kernel": "mean_s "
                        "exp(-|x-y|^2 / C_s)", "bandwidth": bandwidth, "scales": scales},
            "kid": {"value": mm["poly"][0], "se": mm["poly"][1], "kernel": "(x.y/d + 1)^3"}}


def evaluate(real, fake, *, cost: str = "sqeuclidean", features=None, n=None, seed=None,
             k: int = 5, repeats: int = 20, level: float = 0.9, curve: bool = True,
             curve_repeats: int = 3, n_jobs=None, batch_size: int = 256) -> EvaluationResult:
    r"""Compare samples of a generative model with real data; every number has its uncertainty.

    On the features :math:`\phi(x_i)`, :math:`\phi(y_j)` of n samples per side:

    * certified :math:`W_2^2` and :math:`W_1` between the two samples
      (:func:`otgen.theory.wasserstein`, ``tol=0.01``) and a bootstrap interval for the
      population value (:func:`otgen.theory.population_ci`, ``repeats`` resamples);
    * the Fréchet distance of the Gaussian fits (FID's formula), the Gelbrich lower bound
      :math:`\|\mu_x - \mu_y\|^2 + \operatorname{tr}(\Sigma_x + \Sigma_y - 2(\Sigma_x^{1/2}
      \Sigma_y \Sigma_x^{1/2})^{1/2}) \le W_2^2`, with its gap to the certified value;
    * unbiased MMD^2 with IMQ and RBF kernels and KID's :math:`(x \cdot y / d + 1)^3`;
    * precision / recall and density / coverage with k-NN balls;
    * the sample-size curve: each number at n/8, n/4, n/2 and n.

    Parameters
    ----------
    real, fake : path, array, tensor or callable
        A file (.npy, .npz, .csv, .txt, .pt/.pth tensor), a folder of PNG/JPEG images, a numpy
        array or torch tensor ``(n, d)`` (3-D and more: images, flattened), or a callable
        ``draw(n) -> array`` that draws n samples.
    cost : {"sqeuclidean"}
        Ground cost: W_2^2 (squared Euclidean) and W_1 (Euclidean) are reported.
    features : None, "identity", callable, torch.nn.Module or run directory
        Feature map applied before every number (:mod:`otgen.evaluate.features`).
    n : int >= 16, optional
        Samples per side (arrays larger than n are subsampled without replacement); default
        the smaller sample's size.  Required when both are callables.
    seed : int, optional
        Seed of subsampling, bootstrap, jackknife groups and the curve.
    k : int
        Neighbours of the manifold estimates.
    repeats : int
        Bootstrap resamples of the population intervals (0: none, else >= 2).
    level : float in (0, 1)
        Confidence level of the bootstrap intervals.
    curve : bool
        Compute the sample-size curve.
    curve_repeats : int
        Subsamples per curve size below n.
    n_jobs : int, optional
        joblib workers for the bootstrap.
    batch_size : int
        Rows per call of the feature map.

    Returns
    -------
    EvaluationResult
        Values in squared feature units (``w2sq``, ``frechet``), feature units (``w1``),
        kernel units (MMDs) or fractions (precision ...).

    Raises
    ------
    ValueError, TypeError
        Bad files, shapes, dtypes, NaN/inf, n < 16 or more than available, unknown cost, bad
        options; the message names the argument (docs/robustness.md).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> res = evaluate(rng.normal(size=(100, 2)), rng.normal(size=(100, 2)) + [3.0, 4.0],
    ...                seed=0, repeats=5, curve=False)
    >>> res.n, bool(res.w2sq["lower"] <= res.w2sq["value"] <= res.w2sq["upper"])
    (100, True)
    >>> bool(res.frechet["value"] <= res.w2sq["upper"]), res.precision["value"] < 0.2
    (True, True)

    References
    ----------
    M. Heusel et al. NeurIPS 2017 (FID).  M. Bińkowski et al. ICLR 2018 (KID).  A. Gretton et
    al. JMLR 2012 (MMD).  T. Kynkäänniemi et al. NeurIPS 2019 (precision/recall).  M. F. Naeem
    et al. ICML 2020 (density/coverage).  M. Gelbrich. Math. Nachr. 147 (1990).
    """
    t0 = time.perf_counter()
    k, repeats, level, curve_repeats = _check_options(cost, k, repeats, level, curve_repeats,
                                                      seed)
    r_sub, r_grp, r_boot, r_curve = (np.random.default_rng(s)
                                     for s in np.random.SeedSequence(seed).spawn(4))
    x, y, shape, sizes = prepare_pair(real, fake, n, r_sub)
    n = len(x)
    if k >= n - 1:
        raise ValueError(f"k must be < n - 1 = {n - 1} (k-NN balls), got k={k}")
    fx, fy = (apply_features(features, a, name, batch_size) for a, name in
              ((x, "real"), (y, "fake")))
    if fx.shape[1] != fy.shape[1]:
        raise ValueError(f"features gave dimension {fx.shape[1]} for real, {fy.shape[1]} for fake")
    boot_seed = int(r_boot.integers(2 ** 31))
    w2, res2 = certified_w(fx, fy, 2, repeats=repeats, level=level, seed=boot_seed, n_jobs=n_jobs)
    w1, _ = certified_w(fx, fy, 1, repeats=repeats, level=level, seed=boot_seed, n_jobs=n_jobs)
    groups = (group_labels(n, r_grp), group_labels(n, r_grp))
    h = median_bandwidth(fx, fy, r_grp)
    out = {"w2sq": w2, "w1": w1, "frechet": _frechet_entry(*frechet_distance(fx, fy, groups), w2),
           **_kernel_entries(kernel_mmds(fx, fy, bandwidth=h, groups=groups), h),
           **{q: {"value": v, "se": se, "k": k} for q, (v, se) in prdc(fx, fy, k).items()}}
    full = {q: out[q]["value"] for q in QUANTITIES}
    ssc = (sample_size_curve(fx, fy, lambda a, b: _point_values(a, b, k, h), full,
                             minimum=max(8, k + 2), repeats=curve_repeats, rng=r_curve,
                             unbiased=("mmd_imq", "mmd_rbf", "kid"))
           if curve else None)
    moves = longest_moves(res2, fx, fy, MOVES)
    settings = {"cost": cost, "features": describe_features(features), "k": k,
                "repeats": repeats, "level": level, "seed": seed, "dim": int(fx.shape[1]),
                "input_dim": int(x.shape[1]), "image_shape": list(shape) if shape else None,
                "available": sizes, "time_s": time.perf_counter() - t0}
    arrays = {"real": fx, "fake": fy, "moves": moves,
              **({"real_images": x, "fake_images": y} if shape else {})}
    return EvaluationResult(n=n, **out, sample_size_curve=ssc, settings=settings, arrays=arrays)

r"""Audit a trained generative model against exact optimal transport (otgen.theory).

On held-out samples :math:`x_1..x_n` of :math:`P_X`:

1. **Primal, through the encoder** (Theorem A of Bousquet et al. 2017).  With
   :math:`z_i \sim Q(Z|x_i)`, the pairs :math:`(x_i, G(z_i))` form a coupling of the empirical
   measures :math:`\hat P_X` and :math:`G\#\hat Q_Z`, hence the hard inequality

   .. math:: \mathrm{recon} = \frac1n \sum_i c(x_i, G(z_i)) \;\ge\;
             W_c(\hat P_X, G\#\hat Q_Z)  \quad (\text{exact LP}),

   checked and reported for :math:`c = \|\cdot\|^2` (W_2^2) and :math:`c = \|\cdot\|` (W_1).
   Models without an encoder (WGAN-GP) get a deterministic encoder fitted in the audit with G
   frozen (amortized inversion), so the same check applies.
2. **Primal, through the prior**: :math:`W_2^2(\hat P_X, G\#\hat P_Z)` between the test set and
   fresh generated samples, exact with its certified interval, over several draws; and the
   floor :math:`W_2^2(\hat P_X, \hat P_{train})` a perfect model would get at that sample size.
   The gap decomposition

   .. math:: \mathrm{recon} - W(\hat P_X, G\#\hat P_Z) =
             \underbrace{\mathrm{recon} - W(\hat P_X, G\#\hat Q_Z)}_{\text{encoder suboptimality}
             \ \ge 0}
             + \underbrace{W(\hat P_X, G\#\hat Q_Z) - W(\hat P_X, G\#\hat P_Z)}_{\text{latent
             mismatch}}.

3. **Latent**: exact :math:`W_2^2(\hat Q_Z, \hat P_Z)` next to the model's own penalty value
   and the MMD (IMQ) on the same samples.
4. **Dual** (Kantorovich-Rubinstein / WGAN): a critic f (the model's own, as it is, and a
   fresh one trained in the audit with the gradient penalty) on :math:`x_i` vs
   :math:`y_j = G(z_j)`.  With
   :math:`L = \max_{u \ne v} |f(u) - f(v)| / \|u - v\|` over all sample points,
   :math:`(\frac1n\sum f(x_i) - \frac1m\sum f(y_j)) / L` is the value of a feasible dual pair, so
   it is :math:`\le W_1(\hat P_X, \hat P_G)`, which is computed exactly (LP) with its
   Kantorovich potential.  The cross constant
   :math:`L_\times = \max_{ij} (f(x_i) - f(y_j)) / \|x_i - y_j\|` gives a tighter valid bound,
   and completing :math:`f / L_\times` by its c-transform on the generated points a tighter one
   still (:func:`ctransform_bound`).
5. **Sharpness**: mean over images of the variance of the 3x3 Laplacian
   ``[[0,1,0],[1,-4,1],[0,1,0]]`` (valid part), for real, generated and reconstructed images
   (:func:`otgen.theory.sharpness`, re-exported here and from :mod:`otgen.models`).
6. **Sample quality**: the first draw of generated points against the test points through
   :func:`otgen.evaluate.evaluate` -- the same numbers a user gets for a model trained
   elsewhere: the Fréchet distance of the Gaussian fits (FID's formula, a lower bound on
   :math:`W_2^2`), MMD (IMQ), precision / recall and density / coverage, each with its
   standard error (n >= 16).

Each numbered item is one section function returning a small dataclass (:func:`encoder_section`,
:func:`prior_section`, :func:`latent_section`, :func:`dual_section`, :func:`sharpness_section`,
:func:`quality_section`);
:func:`audit` runs them in that order (they share one seeded generator) and composes the JSON
report.  With ``out_dir``, :func:`otgen.models.audit_report.write_report` writes
``audit.json``, ``report.md`` and PNG figures.

References
----------
O. Bousquet, S. Gelly, I. Tolstikhin, C.-J. Simon-Gabriel, B. Schölkopf. From optimal transport
to generative modeling: the VEGAN cookbook. arXiv:1705.07642, 2017.
M. Arjovsky, S. Chintala, L. Bottou. Wasserstein GAN. ICML 2017.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from .._validate import check_int
from ..theory import sharpness
from ..theory.ground_costs import resolve_cost
from .audit_common import exact_ot, hidden_widths, inequality, to_numpy
from .audit_dual import (DualSection, ctransform_bound, dual_section, lipschitz_constants,
                         train_critic)
from .audit_report import critic_plot, image_grid, sample_run, write_report
from .data import DataSplit
from .model import GenerativeModel, reconstruction_cost
from .networks import Encoder
from .penalties import kl_gaussian, mmd

__all__ = ["AuditResult", "DualSection", "EncoderSection", "PriorSection", "audit",
           "audit_run", "critic_plot", "ctransform_bound", "dual_section", "encoder_section",
           "fit_encoder", "image_grid", "latent_section", "lipschitz_constants", "prior_section",
           "sample_run", "sharpness", "sharpness_section", "train_critic", "write_report"]

@dataclass
class AuditResult:
    r"""What :func:`audit` measured: the JSON report, the samples behind it, the files written.

    Every hard inequality of the module docstring (e.g. :math:`\mathrm{recon} \ge
    W_c(\hat P_X, G\#\hat Q_Z)` and :math:`\text{critic bound} \le W_1(\hat P_X, \hat P_G)`) is
    one entry of ``metrics["checks"]`` with both sides and ``holds``; :attr:`passed` is their
    conjunction.

    Attributes
    ----------
    metrics : dict
        The JSON report (``audit.json``): ``checks``, ``primal``, ``dual``, ``latent``,
        ``gap_decomposition``, ``w2sq_test_vs_model``, ... (costs in data units: squared for
        :math:`W_2^2`, plain for :math:`W_1`).
    arrays : dict
        The samples (numpy arrays (n, d), (n_gen, d), ...) the report was computed on.
    files : list of Path
        Files written (empty when ``out_dir`` was None).

    Examples
    --------
    :func:`audit` builds it (see its example); ``passed`` reads the checks:

    >>> check = {"lhs": 1.25, "rhs": 1.0, "holds": True}      # recon >= W_c(P_X, G#Q_Z)
    >>> AuditResult(metrics={"checks": {"recon_ge_w_encoded_squared": check}}).passed
    True
    >>> AuditResult(metrics={"checks": {"w1_ge_critic_bound": {"holds": False}}}).passed
    False

    References
    ----------
    O. Bousquet et al. The VEGAN cookbook. arXiv:1705.07642, 2017 (Theorems 1 and 3).
    """

    metrics: dict
    arrays: dict = field(default_factory=dict)
    files: list = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """True when every hard inequality of the audit holds."""
        return all(v["holds"] for v in self.metrics["checks"].values())


# --- elementary measurements ----------------------------------------------------------------
def fit_encoder(model: GenerativeModel, x_train: torch.Tensor, *, steps: int = 1000,
                lr: float = 1e-3, batch_size: int = 100, seed: int = 0) -> Encoder:
    """A deterministic encoder minimizing :math:`\\|x - G(e(x))\\|^2` with G frozen."""
    torch.manual_seed(seed)
    enc = Encoder(model.data_dim, model.latent_dim, hidden=hidden_widths(model))
    opt = torch.optim.Adam(enc.parameters(), lr=lr)
    g = torch.Generator().manual_seed(seed)
    for p in model.decoder.parameters():
        p.requires_grad_(False)
    try:
        for _ in range(steps):
            xb = x_train[torch.randint(len(x_train), (min(batch_size, len(x_train)),),
                                       generator=g)]
            loss = reconstruction_cost(xb, model.decoder(enc(xb)[0])).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
    finally:
        for p in model.decoder.parameters():
            p.requires_grad_(True)
    enc.eval()
    return enc


# --- the sections -----------------------------------------------------------------------------
@dataclass
class EncoderSection:
    r"""1. Primal through the encoder: recon :math:`\ge W_c(\hat P_X, G\#\hat Q_Z)`.

    Attributes
    ----------
    encoder : str
        ``"model"``, or how the post-hoc encoder of an encoder-free model was fitted.
    primal : dict
        Per cost (``"squared"``, ``"l2"``): ``recon``, the exact ``w_encoded`` and its
        certified interval (+ ``recon_with_decoder_noise`` for the VAE).
    checks : dict
        The hard inequalities ``recon_ge_w_encoded_<cost>``.
    z, y : numpy.ndarray
        The codes :math:`z_i \sim Q(Z|x_i)` and the reconstructions :math:`G(z_i)`.
    mean, logvar : torch.Tensor or None
        The encoder's outputs on x (for the latent section).
    """

    encoder: str
    primal: dict
    checks: dict
    z: np.ndarray
    y: np.ndarray
    mean: torch.Tensor
    logvar: torch.Tensor | None


def encoder_section(model, data, x, generator, *, encoder_steps=1000, seed=0,
                    cost=None) -> EncoderSection:
    """Encode the test points ``x`` (one draw each from ``generator``), decode them, and
    compare the coupling's cost with the exact OT cost for the squared and L2 costs, and for
    the ground ``cost`` (a :class:`~otgen.theory.ground_costs.GroundCost`) when given."""
    if model.has_encoder:
        enc, label = model.encoder, "model"
    else:
        enc = fit_encoder(model, data.train, steps=encoder_steps, seed=seed)
        label = f"post-hoc deterministic, {encoder_steps} steps with G frozen"
    with torch.no_grad():
        mean, logvar = enc(x)
        z = enc.sample(x, generator)
        y = model.decoder(z)
    xn, yn = to_numpy(x), to_numpy(y)
    primal, checks = {}, {}
    for name, recon, w in _encoded_costs(xn, yn, cost):
        primal[name] = {"recon": recon, "w_encoded": w.value, "w_encoded_lower": w.lower,
                        "w_encoded_upper": w.upper}
        checks[f"recon_ge_w_encoded_{name}"] = inequality(
            recon, w.upper, f"E c(X, G(Z)) >= W_c(P_X, G#Q_Z), c = {name} (a coupling's cost "
                            "bounds the optimum)")
    if model.decoder_std is not None:
        s2d = model.decoder_std ** 2 * model.data_dim
        primal["squared"]["recon_with_decoder_noise"] = primal["squared"]["recon"] + s2d
    return EncoderSection(label, primal, checks, to_numpy(z), yn, mean, logvar)


def _encoded_costs(xn, yn, cost):
    """``(name, recon, exact OT result)`` per cost: squared, L2, and the ground ``cost``."""
    xt, yt = torch.as_tensor(xn), torch.as_tensor(yn)
    for name, p in (("squared", 2), ("l2", 1)):
        recon = float(reconstruction_cost(xt, yt, name).mean())
        yield name, recon, exact_ot(xn, yn, p)
    if cost is not None:
        idx = np.arange(len(xn))
        recon = float(cost.torch_pairs(xt, yt, idx, idx).mean())
        yield cost.name, recon, exact_ot(xn, yn, cost=cost)


@dataclass
class PriorSection:
    r"""2. Primal through the prior: exact :math:`W_2^2(\hat P_X, G\#\hat P_Z)` over draws.

    Attributes
    ----------
    w2sq : dict
        ``mean``, ``std``, ``lower``, ``upper``, ``draws`` and the data floor
        ``data_floor_mean`` / ``data_floor_std`` (the report's ``w2sq_test_vs_model``).
    z, y : numpy.ndarray
        The first draw's prior sample and its generated points.
    y_tensor : torch.Tensor
        The same generated points, as the decoder returned them (for the critics).
    w_cost : dict or None
        With a ground cost: exact :math:`W_c(\hat P_X, G\#\hat P_Z)` over the draws (``cost``,
        ``mean``, ``std``, ``lower``, ``upper``, ``draws``); the report's ``w_cost_test_vs_model``.
    """

    w2sq: dict
    z: np.ndarray
    y: np.ndarray
    y_tensor: torch.Tensor
    w_cost: dict | None = None


def prior_section(model, data, x, n_gen, generator, *, repeats=5, seed=0,
                  cost=None) -> PriorSection:
    """``repeats`` draws of ``n_gen`` generated points against the test points ``x``, each
    next to the data floor W_2^2(test, ``n_gen`` training points); with a ground ``cost``,
    also the exact W_c(test, generated) of each draw (``PriorSection.w_cost``)."""
    xn, draws, floors, first, w_cost = to_numpy(x), [], [], None, []
    rng = np.random.default_rng(seed)
    for r in range(repeats):
        with torch.no_grad():
            z = model.prior(n_gen, generator)
            y = model.decoder(z)
        yn = to_numpy(y)
        draws.append(_interval(exact_ot(xn, yn, 2)))
        if cost is not None:
            w_cost.append(_interval(exact_ot(xn, yn, cost=cost)))
        first = (z, y) if r == 0 else first
        idx = rng.choice(len(data.train), size=min(n_gen, len(data.train)), replace=False)
        floors.append(exact_ot(xn, to_numpy(data.train[idx]), 2).value)
    w2sq = {**_over_draws(draws), "data_floor_mean": float(np.mean(floors)),
            "data_floor_std": float(np.std(floors, ddof=1)) if repeats > 1 else 0.0}
    summary = None if cost is None else {"cost": cost.name, **_over_draws(w_cost)}
    return PriorSection(w2sq, to_numpy(first[0]), to_numpy(first[1]), first[1], summary)


def _interval(res) -> dict:
    return {"value": res.value, "lower": res.lower, "upper": res.upper}


def _over_draws(draws: list) -> dict:
    """Mean and sample sd of the draws' values, and the interval covering all of them."""
    vals = np.array([d["value"] for d in draws])
    return {"mean": float(vals.mean()), "std": float(vals.std(ddof=1)) if len(vals) > 1 else 0.0,
            "lower": float(min(d["lower"] for d in draws)),
            "upper": float(max(d["upper"] for d in draws)), "draws": draws}


def gap_decomposition(enc: EncoderSection, prior: PriorSection) -> dict:
    """recon - W(P_X, G#P_Z) = encoder suboptimality (>= 0) + latent mismatch (squared cost)."""
    sq, w = enc.primal["squared"], prior.w2sq["mean"]
    return {"recon_minus_w_prior": sq["recon"] - w,
            "encoder_suboptimality": sq["recon"] - sq["w_encoded"],
            "latent_mismatch": sq["w_encoded"] - w}


def latent_section(model, enc: EncoderSection, prior: PriorSection, generator) -> dict:
    r"""3. Latent: exact :math:`W_2^2(\hat Q_Z, \hat P_Z)`, MMD (IMQ), the model's own penalty
    and, for Gaussian encoders, :math:`\mathbb{E}\,\mathrm{KL}(Q(Z|X) \| P_Z)`."""
    zen, zpn = enc.z, prior.z
    if len(zpn) != len(zen):
        zpn = to_numpy(model.prior(len(zen), generator))
    lat = {"w2sq_exact": exact_ot(zen, zpn, 2).value,
           "mmd_imq": float(mmd(torch.as_tensor(zen), torch.as_tensor(zpn),
                                sigma_z=model.sigma_z))}
    if model.penalty is not None:
        lat["penalty"] = model.penalty.name
        lat["penalty_value"] = model.penalty.divergence(
            torch.as_tensor(zen, dtype=torch.float32), torch.as_tensor(zpn, dtype=torch.float32),
            mean=enc.mean, logvar=enc.logvar, generator=generator)
    if enc.logvar is not None:
        lat["expected_kl"] = float(kl_gaussian(enc.mean, enc.logvar, model.sigma_z))
    return lat


def sharpness_section(data, x, prior: PriorSection, enc: EncoderSection) -> dict | None:
    """5. Mean sharpness of the real, generated and reconstructed images (None for data that
    are not images of at least 3x3 pixels)."""
    if data.image_shape is None or min(data.image_shape) < 3:
        return None
    return {k: float(sharpness(v, data.image_shape).mean())
            for k, v in (("real", to_numpy(x)), ("samples", prior.y), ("reconstructions", enc.y))}


#: the evaluate numbers the audit reports (section 6)
QUALITY_KEYS = ("frechet", "mmd_imq", "precision", "recall", "density", "coverage")


def quality_section(x, prior: PriorSection, seed: int = 0) -> dict | None:
    """6. The first draw of generated points against the test points ``x`` by
    :func:`otgen.evaluate.evaluate` (no bootstrap, no curve: the certified W_2^2 is section 2's);
    None below evaluate's 16 samples per side."""
    from ..evaluate import evaluate  # evaluate reads otgen runs, so import it when used

    n = min(len(x), len(prior.y))
    if n < 16:
        return None
    res = evaluate(to_numpy(x), prior.y, n=n, seed=seed, repeats=0, curve=False).to_dict()
    return {k: res[k] for k in QUALITY_KEYS}


# --- the audit ------------------------------------------------------------------------------
def audit(model: GenerativeModel, data: DataSplit, *, n: int | None = None,
          n_gen: int | None = None, repeats: int = 5, seed: int = 0, critic_steps: int = 1000,
          encoder_steps: int = 1000, cost=None, out_dir=None,
          plots: bool = True) -> AuditResult:
    """Audit ``model`` on the held-out part of ``data``; see the module docstring.

    Parameters
    ----------
    model : GenerativeModel
        The model to audit (data dimension d).
    data : DataSplit
        Its ``test`` split (n, d) is used; ``train`` only for the data floor and the post-hoc
        encoder of encoder-free models.
    n : int, optional
        Number of test points (default: all, at most 1000).
    n_gen : int, optional
        Number of generated points per draw (default n).
    repeats : int
        Independent draws of the generated sample for W_2^2(P_test, P_G).
    seed : int
        Seed of every draw and of the fitted critic / encoder (deterministic audits).
    critic_steps : int
        Steps of training of a fresh critic for the dual check (0: only the model's own critic;
        a model without one then gets an untrained critic, whose bound is still valid).
    encoder_steps : int
        Steps of post-hoc encoder fitting for models without an encoder.
    cost : str, GroundCost or callable, optional
        The paper's ground cost c, beside the squared and L2 costs: any ``cost`` that
        :func:`otgen.theory.wasserstein` takes ("cityblock", "cosine", ``Minkowski(q, p)``, a
        :class:`~otgen.theory.ground_costs.GroundCost` or a torch callable).  Adds
        ``primal[<name>]`` with the check recon >= W_c(P_X, G#Q_Z) (exact LP on the cost
        matrix), and ``w_cost_test_vs_model`` (exact W_c between the test set and each draw).
    out_dir : path, optional
        Write ``audit.json``, ``report.md`` and PNGs there.
    plots : bool
        Also draw the PNG figures (needs ``out_dir``).

    Returns
    -------
    AuditResult
        The report; ``result.passed`` is True when every hard inequality holds.

    Examples
    --------
    An untrained model still satisfies every hard inequality (they hold for any model):

    >>> data = gaussian_mixture(60, 30, k=4, seed=0)
    >>> model = build_model("wae-mmd", 2, latent_dim=2, hidden=(8,))
    >>> result = audit(model, data, n=20, repeats=1, critic_steps=5, plots=False)
    >>> result.passed, all(c["holds"] for c in result.metrics["checks"].values())
    (True, True)

    References
    ----------
    O. Bousquet, S. Gelly, I. Tolstikhin, C.-J. Simon-Gabriel, B. Schölkopf. From optimal
    transport to generative modeling: the VEGAN cookbook. arXiv:1705.07642, 2017 (Theorem 1:
    the primal through the encoder; Theorem 3: the dual).  M. Arjovsky, S. Chintala, L. Bottou.
    Wasserstein GAN. ICML 2017.  G. Peyré, M. Cuturi. Computational Optimal Transport, 2019
    (c-transforms, Section 5.3).
    """
    n, n_gen = _check_audit(model, data, n, n_gen, repeats, critic_steps, encoder_steps)
    ground = None if cost is None else resolve_cost(cost, None)
    model.eval()
    g = torch.Generator().manual_seed(seed)
    x = data.test[:n]
    enc = encoder_section(model, data, x, g, encoder_steps=encoder_steps, seed=seed,
                          cost=ground)
    prior = prior_section(model, data, x, n_gen, g, repeats=repeats, seed=seed, cost=ground)
    latent = latent_section(model, enc, prior, g)
    dual = dual_section(model, x, prior, critic_steps=critic_steps, seed=seed)
    out = {"model": model.kind, "data": data.name, "n": n, "n_gen": n_gen, "repeats": repeats,
           "seed": seed, "checks": {**enc.checks, **dual.checks}, "encoder": enc.encoder,
           "primal": enc.primal, "w2sq_test_vs_model": prior.w2sq,
           "gap_decomposition": gap_decomposition(enc, prior), "latent": latent,
           "dual": dual.dual}
    if prior.w_cost is not None:
        out["w_cost_test_vs_model"] = prior.w_cost
    for key, section in (("sharpness", sharpness_section(data, x, prior, enc)),
                         ("sample_quality", quality_section(x, prior, seed))):
        if section is not None:
            out[key] = section
    out["passed"] = all(c["holds"] for c in out["checks"].values())
    arrays = {"x": to_numpy(x), "z_enc": enc.z, "y_enc": enc.y, "z_prior": prior.z,
              "y_prior": prior.y, **dual.arrays}
    result = AuditResult(out, arrays)
    if out_dir is not None:
        write_report(result, out_dir, model=model, data=data, plots=plots, critics=dual.critics)
    return result


def _check_audit(model, data, n, n_gen, repeats, critic_steps, encoder_steps):
    """The audit's arguments checked; -> (n, n_gen) resolved."""
    if not isinstance(model, GenerativeModel):
        raise TypeError(f"model must be a GenerativeModel, got {type(model).__name__}")
    if data.dim != model.data_dim:
        raise ValueError(f"data has dimension {data.dim} but the model was built for "
                         f"{model.data_dim}")
    check_int(repeats, "repeats", 1)
    check_int(critic_steps, "critic_steps", 0)
    check_int(encoder_steps, "encoder_steps", 1)
    n_avail = len(data.test)
    n = min(n_avail, 1000) if n is None else int(n)
    if not 2 <= n <= n_avail:
        raise ValueError(f"n must lie in [2, {n_avail}] (the test-set size), got {n}")
    n_gen = n if n_gen is None else int(n_gen)
    if n_gen < 2:
        raise ValueError(f"n_gen must be >= 2, got {n_gen}")
    return n, n_gen


def audit_run(run_dir, *, threads: int | None = None, **kwargs) -> AuditResult:
    """Load a run directory (see :func:`otgen.models.load_run`) and audit it into that directory.

    The checks are those of :func:`audit`, on the run's own test data, seeded by the run's
    ``config.seed`` unless ``seed=`` is given.

    Parameters
    ----------
    run_dir : str or Path
        A directory written by :func:`otgen.models.fit` (config.json, checkpoint.pt).
    threads : int, optional
        torch CPU threads during the call (restored afterwards).
    **kwargs
        Passed to :func:`audit` (``n``, ``repeats``, ``critic_steps``, ``plots``, ...;
        ``out_dir`` defaults to ``run_dir``).

    Returns
    -------
    AuditResult
        As :func:`audit`; ``audit.json`` and ``report.md`` land in ``run_dir``.

    Examples
    --------
    >>> import tempfile
    >>> run_dir = tempfile.mkdtemp()
    >>> cfg = TrainConfig(model="wae-mmd", data="mixture", latent_dim=2, hidden=(8,),
    ...                   data_options={"n_train": 100, "n_test": 40}, batch_size=20)
    >>> _ = fit(cfg, run_dir, max_steps=2)
    >>> result = audit_run(run_dir, n=20, repeats=1, critic_steps=5, plots=False)
    >>> result.passed, sorted(p.name for p in result.files)
    (True, ['audit.json', 'report.md'])

    References
    ----------
    O. Bousquet et al. The VEGAN cookbook. arXiv:1705.07642, 2017 (Theorems 1 and 3).
    """
    from .._threads import torch_threads
    from .train import load_run

    with torch_threads(threads):
        run = load_run(run_dir)
        kwargs.setdefault("seed", run.config.seed)
        kwargs.setdefault("out_dir", run_dir)
        return audit(run.model, run.data, **kwargs)

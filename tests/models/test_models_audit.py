"""audit(): the hard inequalities for every model type, checked against independent exact OT
(scipy's assignment solver), plus closed forms for sharpness and Lipschitz constants."""
import json

import numpy as np
import pytest
import torch
from scipy.optimize import linear_sum_assignment
from scipy.spatial.distance import cdist

from otgen.models import fit, load_digits
from otgen.models.audit import audit, ctransform_bound, lipschitz_constants, sharpness
from otgen.models.networks import Critic

from models_testlib import tiny


def assignment_cost(x, y, p):
    """Exact OT between equal-size uniform clouds: an assignment problem (scipy)."""
    c = cdist(x, y) ** p
    r, k = linear_sum_assignment(c)
    return c[r, k].mean()


MODELS = [("wae-mmd", {}), ("wae-gan", {}), ("wae", {"penalty": "sliced"}), ("vae", {}),
          ("wgan-gp", {}), ("wae", {"penalty": "kl", "cost": "l2"}),
          ("wae", {"penalty": "sinkhorn", "cost": "l1"}), ("wae", {"penalty": "mmd-rbf",
                                                               "stochastic_encoder": True})]


@pytest.mark.parametrize("model,kw", MODELS)
def test_audit_inequalities_every_model(model, kw, mix2d):
    res = fit(tiny(model, **kw), data=mix2d)
    a = audit(res.model, mix2d, n=40, repeats=2, critic_steps=30, encoder_steps=30, seed=1)
    m, arr = a.metrics, a.arrays
    x, y_enc = arr["x"], arr["y_enc"]
    # recon is the cost of the encoder pairing; exact W from an independent solver
    for cost, p in (("squared", 2), ("l2", 1)):
        recon = np.mean(np.linalg.norm(x - y_enc, axis=1) ** p)
        truth = assignment_cost(x, y_enc, p)
        assert m["primal"][cost]["recon"] == pytest.approx(recon, rel=1e-9)
        assert m["primal"][cost]["w_encoded"] == pytest.approx(truth, rel=1e-9)
        assert recon >= truth - 1e-12
    # the critic bound never exceeds exact W_1 (independent assignment solver)
    w1 = assignment_cost(x, arr["y_prior"], 1)
    assert m["dual"]["w1_exact"] == pytest.approx(w1, rel=1e-9)
    for name in ("audit_critic", "model_critic"):
        if name in m["dual"]:
            assert m["dual"][name]["lower_bound"] <= w1 * (1 + 1e-9)
            assert m["dual"][name]["lower_bound_cross"] <= w1 * (1 + 1e-9)
            assert m["dual"][name]["lower_bound_ctransform"] <= w1 * (1 + 1e-9)
    w2 = [d["value"] for d in m["w2sq_test_vs_model"]["draws"]]
    assert w2[0] == pytest.approx(assignment_cost(x, arr["y_prior"], 2), rel=1e-9)
    assert a.passed and m["passed"]
    assert m["encoder"] == "model" if model != "wgan-gp" else "post-hoc" in m["encoder"]


@pytest.mark.parametrize("cost,metric", [("cityblock", "cityblock"), ("cosine", "cosine")])
def test_audit_with_a_ground_cost(cost, metric, mix2d):
    """audit(cost=...): recon and the exact W_c for the paper's c, against scipy's assignment
    solver on cdist's matrix of that metric; and W_c(test, generated) per draw."""
    res = fit(tiny("wae-mmd"), data=mix2d)
    a = audit(res.model, mix2d, n=30, repeats=2, critic_steps=5, cost=cost, seed=2)
    m, arr = a.metrics, a.arrays
    x, y_enc = arr["x"], arr["y_enc"]
    C = cdist(x, y_enc, metric)
    r, k = linear_sum_assignment(C)
    assert m["primal"][cost]["recon"] == pytest.approx(np.mean(np.diag(C)), rel=1e-9)
    assert m["primal"][cost]["w_encoded_lower"] <= C[r, k].mean() * (1 + 1e-12)
    assert m["primal"][cost]["w_encoded_upper"] >= C[r, k].mean() * (1 - 1e-12)
    assert m["checks"][f"recon_ge_w_encoded_{cost}"]["holds"]
    Cp = cdist(x, arr["y_prior"], metric)
    r, k = linear_sum_assignment(Cp)
    first = m["w_cost_test_vs_model"]["draws"][0]
    assert first["lower"] <= Cp[r, k].mean() * (1 + 1e-12) <= first["upper"] * (1 + 2e-12)
    assert m["w_cost_test_vs_model"]["cost"] == cost and a.passed


def test_audit_sample_quality_is_evaluate_on_the_first_draw(mix2d):
    """Section 6 reuses otgen.evaluate: its Frechet distance is the closed form of the Gaussian
    fits (1/n moments, scipy's sqrtm) of the test points and the first generated draw."""
    from scipy.linalg import sqrtm

    res = fit(tiny("wae-mmd"), data=mix2d)
    a = audit(res.model, mix2d, n=40, repeats=1, critic_steps=5, seed=3)
    x, y = a.arrays["x"], a.arrays["y_prior"]
    q = a.metrics["sample_quality"]
    assert set(q) == {"frechet", "mmd_imq", "precision", "recall", "density", "coverage"}
    sx, sy = np.cov(x.T, bias=True), np.cov(y.T, bias=True)
    r = sqrtm(sx)
    fd = np.sum((x.mean(0) - y.mean(0)) ** 2) + np.trace(sx + sy - 2 * np.real(sqrtm(r @ sy @ r)))
    assert q["frechet"]["value"] == pytest.approx(fd, rel=1e-7)
    assert q["frechet"]["value"] <= a.metrics["w2sq_test_vs_model"]["draws"][0]["upper"]
    assert all(0 <= q[k]["value"] <= 1 for k in ("precision", "recall", "coverage"))
    small = audit(res.model, mix2d, n=10, repeats=1, critic_steps=0, seed=3)
    assert "sample_quality" not in small.metrics  # evaluate needs 16 samples per side


def test_audit_rejects_an_unknown_cost(mix2d):
    res = fit(tiny("wae-mmd"), data=mix2d)
    with pytest.raises(ValueError, match="cost"):
        audit(res.model, mix2d, n=20, repeats=1, critic_steps=0, cost="manhattan")


def test_public_name():
    import otgen.models
    import otgen.theory

    assert otgen.models.audit is audit and callable(otgen.models.audit)
    assert otgen.models.sharpness is sharpness is otgen.theory.sharpness  # one sharpness


def test_random_critics_give_valid_bounds():
    rng = np.random.default_rng(0)
    for seed in range(8):
        torch.manual_seed(seed)
        x = rng.normal(size=(30, 3))
        y = rng.normal(size=(30, 3)) * 2 + rng.normal(size=3)
        f = Critic(3, hidden=(16, 16))
        with torch.no_grad():
            fx = f(torch.as_tensor(x, dtype=torch.float32)).double().numpy()
            fy = f(torch.as_tensor(y, dtype=torch.float32)).double().numpy()
        l_all, l_cross = lipschitz_constants(fx, fy, x, y)
        w1 = assignment_cost(x, y, 1)
        value = fx.mean() - fy.mean()
        assert value / l_all <= w1 + 1e-12 and value / l_cross <= w1 + 1e-12
        assert l_cross <= l_all + 1e-15
        # the c-transform completion is feasible (<= W_1) and improves on the rescaling
        bc = ctransform_bound(fx / l_cross, x, y)
        assert value / l_cross - 1e-12 <= bc <= w1 + 1e-12


def test_lipschitz_of_a_linear_function_on_a_line():
    t = np.random.default_rng(1).normal(size=(20, 1))
    x, y = t[:10] @ [[1.0, 0.0]], t[10:] @ [[1.0, 0.0]]  # points on the first axis
    l_all, l_cross = lipschitz_constants(3 * x[:, 0], 3 * y[:, 0], x, y)
    assert l_all == pytest.approx(3.0)
    assert l_cross == pytest.approx(3.0)  # some x_i lies right of some y_j


def test_sharpness_closed_forms():
    i, j = np.meshgrid(np.arange(8), np.arange(8), indexing="ij")
    ramp = 0.1 * i + 0.05 * j  # linear: zero Laplacian
    assert sharpness(ramp[None], (8, 8))[0] == pytest.approx(0.0, abs=1e-24)
    checker = ((i + j) % 2).astype(float)  # 0/1 checkerboard: Laplacian = +-4, mean 0
    assert sharpness(checker[None], (8, 8))[0] == pytest.approx(16.0)
    one = np.zeros((8, 8))
    one[3, 3] = 1.0  # a single pixel: values -4 (once) and 1 (4 times) among 36 interior ones
    vals = np.zeros(36)
    vals[:5] = [-4, 1, 1, 1, 1]
    assert sharpness(one.ravel()[None], (8, 8))[0] == pytest.approx(vals.var())
    with pytest.raises(ValueError, match="3x3"):
        sharpness(np.zeros((1, 4)), (2, 2))


def test_digits_audit_writes_report(tmp_path):
    d = load_digits()
    res = fit(tiny("vae", data="digits", data_options={}, latent_dim=3, batch_size=50, epochs=1),
              data=d)
    a = audit(res.model, d, n=30, repeats=2, critic_steps=10, out_dir=tmp_path)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["audit.json", "reconstructions.png", "report.md", "samples.png"]
    m = json.loads((tmp_path / "audit.json").read_text())
    s = m["sharpness"]
    assert s["real"] == pytest.approx(sharpness(d.test[:30], (8, 8)).mean())
    assert "All hard inequalities hold: yes" in (tmp_path / "report.md").read_text()
    # the Gaussian-decoder identity: encoder form with noise = recon + d s^2
    sq = m["primal"]["squared"]
    assert sq["recon_with_decoder_noise"] == pytest.approx(sq["recon"] + 64 * 0.1 ** 2)
    assert a.files[0].name == "audit.json"


def test_2d_audit_plots_the_critic(tmp_path, mix2d):
    res = fit(tiny("wgan-gp"), data=mix2d)
    audit(res.model, mix2d, n=30, repeats=2, critic_steps=5, encoder_steps=5, out_dir=tmp_path)
    assert {"critic.png", "samples.png"} <= {p.name for p in tmp_path.iterdir()}
    assert (tmp_path / "critic.png").stat().st_size > 1000


def test_audit_bad_arguments(mix2d):
    res = fit(tiny(epochs=1), data=mix2d)
    with pytest.raises(ValueError, match="n must lie"):
        audit(res.model, mix2d, n=10_000)
    with pytest.raises(ValueError, match="repeats"):
        audit(res.model, mix2d, repeats=0)
    with pytest.raises(ValueError, match="dimension"):
        audit(res.model, load_digits())
    with pytest.raises(TypeError, match="GenerativeModel"):
        audit(torch.nn.Linear(2, 2), mix2d)

"""Objectives: costs, the negative ELBO identity, the NaN guard, the WGAN-GP schedule."""
import math

import pytest
import torch
from torch.distributions import Normal, kl_divergence

from otgen.models.objectives import (Objective, TrainingDivergedError, build_model,
                                     reconstruction_cost)
from otgen.models.specs import vae, wae


def test_reconstruction_costs_3_4_5():
    x, y = torch.zeros(1, 2), torch.tensor([[3.0, -4.0]])
    assert float(reconstruction_cost(x, y, "squared")) == 25
    assert float(reconstruction_cost(x, y, "l2")) == pytest.approx(5)
    assert float(reconstruction_cost(x, y, "l1")) == 7
    with pytest.raises(ValueError, match="cost"):
        reconstruction_cost(x, y, "huber")


def test_vae_loss_is_the_negative_elbo():
    torch.manual_seed(0)
    m = build_model("vae", 6, latent_dim=3, hidden=(8,), output="linear", decoder_std=0.3,
                    sigma_z=1.5)
    obj = Objective(m)
    x = torch.randn(11, 6)
    got = obj.vae_losses(x, torch.Generator().manual_seed(4))["loss"]
    # the same noise, scored with torch.distributions
    g = torch.Generator().manual_seed(4)
    mean, logvar = m.encoder(x)
    std = torch.exp(0.5 * logvar)
    z = mean + std * torch.randn(mean.shape, generator=g)
    nll = -Normal(m.decoder(z), 0.3).log_prob(x).sum(1).mean()
    kl = kl_divergence(Normal(mean, std), Normal(torch.zeros_like(mean), 1.5)).sum(1).mean()
    assert float(got.detach()) == pytest.approx(float((nll + kl).detach()), rel=1e-5)


def test_wae_recon_term_is_the_autoencoder_error():
    torch.manual_seed(1)
    m = build_model("wae-mmd", 5, latent_dim=2, hidden=(8,), output="linear")
    x = torch.randn(9, 5)
    t = Objective(m, cost="l1").wae_losses(x, torch.Generator().manual_seed(0))
    want = (x - m.decoder(m.encoder(x)[0])).abs().sum(1).mean()
    assert float(t["recon"].detach()) == pytest.approx(float(want.detach()), rel=1e-6)


def test_build_model_kinds():
    assert build_model("vae", 4, latent_dim=2).encoder.stochastic
    assert build_model("wgan-gp", 4, latent_dim=2).encoder is None
    assert build_model("wae-gan", 4, latent_dim=2).penalty.adversary is not None
    assert not build_model("wae-mmd", 4, latent_dim=2).encoder.stochastic
    assert build_model("wae", 4, latent_dim=2, penalty="kl").encoder.stochastic
    with pytest.raises(ValueError, match="unknown model"):
        build_model("gan", 4)


def _snapshot(m):
    return [p.detach().clone() for p in m.parameters()]


@pytest.mark.parametrize("kind", ["wae-mmd", "wae-gan", "vae"])
def test_nan_loss_raises_and_leaves_parameters(monkeypatch, kind):
    torch.manual_seed(2)
    m = build_model(kind, 4, latent_dim=2, hidden=(8,), output="linear")
    obj = Objective(m)
    x = torch.randn(10, 4)
    obj.step(x, 0, torch.Generator().manual_seed(0))  # a good step, to fill Adam's state
    before = _snapshot(m)
    real = reconstruction_cost
    for spec in (wae, vae):  # where the steps look the cost up
        monkeypatch.setattr(spec, "reconstruction_cost",
                            lambda a, b, c="squared": real(a, b, c) * float("nan"))
    with pytest.raises(TrainingDivergedError, match="diverged at step 7") as info:
        obj.step(x, 7, torch.Generator().manual_seed(1))
    assert info.value.step == 7
    for a, b in zip(before, _snapshot(m)):
        if kind != "wae-gan":
            assert torch.equal(a, b)
    # the autoencoder nets are untouched in every case
    for a, b in zip(_snapshot(m.encoder), [p for p in before[:len(list(m.encoder.parameters()))]]):
        assert torch.equal(a, b)


def test_infinite_gradient_raises_before_the_update():
    torch.manual_seed(3)
    m = build_model("wae-mmd", 4, latent_dim=2, hidden=(8,), output="linear")
    obj = Objective(m)
    before = _snapshot(m)
    x = torch.randn(10, 4)
    x.requires_grad_(False)
    # a finite loss whose gradient overflows: scale the decoder output by a huge constant
    with torch.no_grad():
        for p in m.decoder.parameters():
            p.mul_(1e30)
    before = _snapshot(m)
    with pytest.raises(TrainingDivergedError):
        obj.step(x, 0, torch.Generator().manual_seed(0))
    for a, b in zip(before, _snapshot(m)):
        assert torch.equal(a, b)


def test_wgan_generator_updates_every_n_critic_steps():
    torch.manual_seed(4)
    m = build_model("wgan-gp", 3, latent_dim=2, hidden=(8,), output="linear")
    obj = Objective(m, n_critic=3)
    x = torch.randn(16, 3)
    changed = []
    for step in range(7):
        g0 = _snapshot(m.decoder)
        obj.step(x, step, torch.Generator().manual_seed(step))
        changed.append(any(not torch.equal(a, b) for a, b in zip(g0, _snapshot(m.decoder))))
    assert changed == [s % 3 == 0 for s in range(7)]

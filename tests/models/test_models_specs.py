"""One spec per model kind: the registry, the collective seam, and adding a model in one file."""
import pytest
import torch
import torch.distributed as dist
from torch import nn

from otgen.models import GenerativeModel, Objective, TrainConfig, build_model, fit
from otgen.models.collective import LOCAL, TorchDistCollective
from otgen.models.distributed import free_port
from otgen.models.model import reconstruction_cost
from otgen.models.specs import MODELS, SPECS, ModelSpec, spec_for
from otgen.models.specs.base import parameters

from models_testlib import tiny

OPTIMIZERS = {"wae-mmd": ["autoencoder"], "wae-gan": ["autoencoder", "discriminator"],
              "wae": ["autoencoder"], "vae": ["autoencoder"], "wgan-gp": ["generator", "critic"]}


def test_every_model_has_one_spec():
    assert MODELS == ("wae-mmd", "wae-gan", "wae", "vae", "wgan-gp") == tuple(SPECS)
    for kind in MODELS:
        spec = spec_for(kind)
        assert kind in spec.kinds and issubclass(spec, ModelSpec)
        model = build_model(kind, 4, latent_dim=2, hidden=(8,))
        assert list(Objective(model).optimizers) == OPTIMIZERS[kind]
    with pytest.raises(ValueError, match="unknown model 'gan'"):
        spec_for("gan")


def test_local_collective_is_the_identity():
    t = torch.arange(6.0, requires_grad=True)
    assert LOCAL.rows(t) is t and LOCAL.gather(t) is t and (LOCAL.rank, LOCAL.world) == (0, 1)
    assert not LOCAL.gather_detached(t).requires_grad
    assert not LOCAL.mean({"loss": t.sum()})["loss"].requires_grad
    p = nn.Parameter(torch.ones(2))
    p.grad = torch.tensor([1.0, 2.0])
    LOCAL.average_gradients([p])
    assert p.grad.tolist() == [1.0, 2.0]


def test_objective_front_reads_through_to_the_spec():
    obj = Objective(build_model("wae-mmd", 4, latent_dim=2, hidden=(8,)), lam=3, cost="l1")
    assert (obj.lam, obj.cost) == (3.0, "l1") and obj.spec.optimizers is obj.optimizers
    with pytest.raises(ValueError, match="no VAESpec losses"):
        obj.vae_losses(torch.rand(4, 4))
    with pytest.raises(AttributeError):
        obj.no_such_attribute


@pytest.mark.parametrize("kind,kw", [("wae-mmd", {}), ("wae-gan", {"stochastic_encoder": True}),
                                     ("wae", {"penalty": "kl"}), ("vae", {}), ("wgan-gp", {})])
def test_one_rank_torch_collective_equals_the_local_step(kind, kw):
    """The same spec step through both collectives: a group of one rank changes nothing."""
    models = []
    for _ in range(2):
        torch.manual_seed(0)
        models.append(build_model(kind, 3, latent_dim=2, hidden=(8,), output="linear", **kw))
    x = torch.randn(4, 10, 3)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{free_port()}", rank=0,
                            world_size=1)
    try:
        torch_dist = TorchDistCollective()
        local, ranked = (spec_for(kind)(m, n_critic=2) if kind == "wgan-gp"
                         else spec_for(kind)(m) for m in models)
        for t in range(4):
            a = local.step(x[t], t, torch.Generator().manual_seed(t), LOCAL)
            b = ranked.step(x[t], t, torch.Generator().manual_seed(t), torch_dist)
            assert a.keys() == b.keys()
            assert all(abs(a[k] - b[k]) <= 1e-6 * max(1.0, abs(a[k])) for k in a)
    finally:
        dist.destroy_process_group()
    for p, q in zip(models[0].parameters(), models[1].parameters()):
        assert torch.equal(p, q)


class AESpec(ModelSpec):
    """A plain auto-encoder (no latent penalty): the whole of a new model kind."""

    kinds = ("ae",)

    @classmethod
    def build(cls, kind, nets, *, sigma_z=1.0, **_):
        return GenerativeModel(kind, nets.encoder(), nets.decoder(), sigma_z=sigma_z,
                               image_shape=nets.image_shape)

    def param_groups(self):
        return {"autoencoder": (parameters(self.model.encoder, self.model.decoder), False)}

    def step(self, batch, step, generator=None, collective=LOCAL):
        x = collective.rows(batch)
        loss = reconstruction_cost(x, self.model.decoder(self.model.encoder(x)[0])).mean()
        terms = {k: float(v) for k, v in collective.mean({"loss": loss}).items()}
        self.guarded_update("autoencoder", loss, step, terms, collective)
        return terms


def test_adding_a_model_is_one_spec_and_one_registry_entry(monkeypatch, tmp_path):
    monkeypatch.setitem(SPECS, "ae", AESpec)
    with pytest.raises(ValueError, match="penalty is only for WAE"):
        tiny("ae", penalty="mmd").validate()
    part = fit(tiny("ae", epochs=2), tmp_path, max_steps=7)
    res = fit(tiny("ae", epochs=2), tmp_path)  # checkpoint, resume, metrics: the shared loop
    full = fit(tiny("ae", epochs=2))
    assert (part.step, res.resumed_from, res.step) == (7, 7, 20)
    assert res.history[-1]["loss"] < full.history[0]["loss"]
    for p, q in zip(res.model.parameters(), full.model.parameters()):
        assert torch.equal(p, q)
    assert isinstance(TrainConfig(model="ae").validate().lr, float)

"""fit(): config validation, determinism, resume == uninterrupted, NaN stop, checkpoint files."""
import json

import pytest
import torch

from otgen.models import (TrainConfig, TrainingDivergedError, fit, load_checkpoint, load_run,
                          read_metrics)
from otgen.models.specs import wae
from otgen.models.run_files import save_checkpoint

from models_testlib import tiny


def _same(m1, m2) -> bool:
    s1, s2 = m1.state_dict(), m2.state_dict()
    return s1.keys() == s2.keys() and all(torch.equal(s1[k], s2[k]) for k in s1)


@pytest.mark.parametrize("field,value,msg", [
    ("model", "gan", "unknown model"), ("epochs", 0, "epochs"), ("lr", -1.0, "lr"),
    ("lr", float("nan"), "lr"), ("batch_size", 2.5, "batch_size"), ("hidden", (), "hidden"),
    ("hidden", (16, 0), "hidden"), ("betas", (1.0, 0.9), "betas"), ("lam", -1.0, "lam"),
    ("cost", "huber", "cost"), ("arch", "resnet", "arch"), ("sigma_z", 0.0, "sigma_z"),
    ("decoder_std", -0.1, "decoder_std"), ("seed", -1, "seed"), ("optimizer", "sgd", "optimizer"),
    ("checkpoint_every", 0, "checkpoint_every"), ("penalty_options", {"bandwidth": 1},
                                                  "penalty_options")])
def test_bad_config_values(field, value, msg):
    with pytest.raises(ValueError, match=msg):
        tiny(**{field: value}).validate()


def test_penalty_rules():
    with pytest.raises(ValueError, match="only for WAE"):
        tiny("vae", penalty="mmd").validate()
    with pytest.raises(ValueError, match="use model='wae'"):
        tiny("wae-mmd", penalty="gan").validate()
    assert tiny("wae", penalty="sliced").validate().penalty == "sliced"
    assert tiny("wae-gan").validate().lam == 1.0 and tiny("wae-mmd").validate().lam == 10.0
    with pytest.raises(ValueError, match="unknown config field"):
        TrainConfig.from_dict({"model": "vae", "epoch": 3})
    c = tiny("wgan-gp").validate()
    assert TrainConfig.from_dict(json.loads(json.dumps(c.to_dict()))).validate() == c


def test_batch_larger_than_data():
    with pytest.raises(ValueError, match="batch_size"):
        fit(tiny(batch_size=500))


@pytest.mark.parametrize("model", ["wae-mmd", "wae-gan", "vae", "wgan-gp"])
def test_same_seed_same_model(model):
    a, b = fit(tiny(model)), fit(tiny(model))
    assert _same(a.model, b.model)
    assert not _same(a.model, fit(tiny(model, seed=1)).model)
    # an epoch is 200 // 20 updates of the generator: WGAN-GP takes n_critic = 5 steps for one
    assert a.step == 2 * (200 // 20) * (5 if model == "wgan-gp" else 1)


def test_wgan_epoch_counts_generator_updates():
    res = fit(tiny("wgan-gp", epochs=1, n_critic=3, log_every=1))
    gen_steps = [line["step"] for line in res.history if "gen" in line]
    assert res.step == 30 and len(gen_steps) == 200 // 20 == 10   # 3 passes over the data
    assert gen_steps == list(range(1, 31, 3))   # steps 0, 3, ..., 27 (1-based in the log)
    assert res.history[-1]["epoch"] == 1.0


@pytest.mark.parametrize("model", ["wae-gan", "wgan-gp"])
def test_resume_equals_uninterrupted(tmp_path, model):
    # 30 steps each (WGAN-GP: 10 generator updates, so 13 stops between two of them)
    cfg = tiny(model, epochs=3) if model != "wgan-gp" else tiny(model, epochs=1, n_critic=3)
    full = fit(cfg, tmp_path / "full")
    part = fit(cfg, tmp_path / "part", max_steps=13)  # stops mid-epoch, checkpoints at 13
    assert part.step == 13 and load_checkpoint(tmp_path / "part/checkpoint.pt")["step"] == 13
    rest = fit(cfg, tmp_path / "part")
    assert rest.resumed_from == 13 and rest.step == full.step == 30
    assert _same(rest.model, full.model)
    steps = [line["step"] for line in read_metrics(tmp_path / "part")]
    assert steps == [line["step"] for line in read_metrics(tmp_path / "full")]
    assert fit(cfg, tmp_path / "part").resumed_from == 30  # a finished run is not retrained


def test_resume_checks_the_config(tmp_path):
    fit(tiny(), tmp_path, max_steps=5)
    with pytest.raises(ValueError, match="different configuration.*latent_dim"):
        fit(tiny(latent_dim=3), tmp_path)
    longer = fit(tiny(epochs=3), tmp_path)  # more epochs: allowed, continues
    assert longer.resumed_from == 5 and longer.step == 30
    fresh = fit(tiny(latent_dim=3), tmp_path, resume=False)
    assert fresh.resumed_from is None and fresh.model.latent_dim == 3


def test_nan_stops_training_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    cfg = tiny(checkpoint_every=4, epochs=3)
    calls = {"n": 0}
    real = wae.reconstruction_cost

    def poisoned(x, y, cost="squared"):
        calls["n"] += 1
        out = real(x, y, cost)
        return out * float("nan") if calls["n"] == 11 else out  # 11th step

    monkeypatch.setattr(wae, "reconstruction_cost", poisoned)  # the WAE step's cost
    with pytest.raises(TrainingDivergedError, match="diverged at step 10") as info:
        fit(cfg, tmp_path / "run")
    assert "recon" in info.value.terms or info.value.step == 10
    ck = load_checkpoint(tmp_path / "run/checkpoint.pt")
    assert ck["step"] == 8  # last multiple of checkpoint_every before the NaN
    monkeypatch.setattr(wae, "reconstruction_cost", real)
    ref = fit(cfg, tmp_path / "ref", max_steps=8)
    assert _same(load_run(tmp_path / "run").model, ref.model)
    events = [line for line in read_metrics(tmp_path / "run") if line.get("event")]
    assert events and events[-1]["event"] == "diverged"
    assert not list((tmp_path / "run").glob(".*tmp"))


def test_corrupt_and_foreign_checkpoints(tmp_path):
    fit(tiny(), tmp_path / "r")
    path = tmp_path / "r/checkpoint.pt"
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 3])
    with pytest.raises(ValueError, match="unreadable or truncated"):
        fit(tiny(), tmp_path / "r")
    with pytest.raises(ValueError, match="unreadable or truncated"):
        load_run(tmp_path / "r")
    torch.save({"weights": torch.zeros(3)}, path)
    with pytest.raises(ValueError, match="not an otgen checkpoint"):
        load_checkpoint(path)
    save_checkpoint(path, {"format": "otgen-checkpoint-v1", "step": 1})
    with pytest.raises(ValueError, match="lacks the field"):
        load_checkpoint(path)
    with pytest.raises(ValueError, match="no checkpoint"):
        load_checkpoint(tmp_path / "none.pt")
    with pytest.raises(ValueError, match="does not exist"):
        load_run(tmp_path / "missing")


def test_run_directory_contents(tmp_path):
    res = fit(tiny("vae"), tmp_path)
    assert json.loads((tmp_path / "config.json").read_text())["model"] == "vae"
    lines = read_metrics(tmp_path)
    assert [line["step"] for line in lines] == [5, 10, 15, 20]
    assert {"loss", "nll", "kl"} <= set(lines[-1])
    assert lines == res.history
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.pt", "config.json",
                                                          "metrics.jsonl"]
    assert _same(load_run(tmp_path).model, res.model)


def test_threads_are_restored(monkeypatch):
    seen = []
    real = torch.Tensor.backward

    def spy(self, *a, **k):  # the thread count in force while training
        seen.append(torch.get_num_threads())
        return real(self, *a, **k)

    torch.set_num_threads(2)
    monkeypatch.setattr(torch.Tensor, "backward", spy)
    fit(tiny(epochs=1), threads=1)
    assert seen and set(seen) == {1}
    assert torch.get_num_threads() == 2
    with pytest.raises(ValueError, match="threads"):
        fit(tiny(epochs=1), threads=0)


def test_progress_bar_shows_live_terms(capsys):
    fit(tiny(epochs=1), progress=True)
    err = capsys.readouterr().err
    assert "wae-mmd" in err and "recon" in err and "10/10" in err

"""otgen.evaluate's inputs: arrays, tensors, draw(n) callables, image folders, feature maps
(callable, nn.Module, an otgen run's encoder), and every bad input's error."""
from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from PIL import Image

import otgen
from otgen.evaluate import EvaluationResult, apply_features, evaluate, load_images, load_points

QUICK = dict(repeats=0, curve=False)


def _xy(n=64, d=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)), rng.normal(size=(n, d)) + 0.5


def test_exported_from_otgen_and_result_object():
    assert otgen.evaluate is evaluate and otgen.EvaluationResult is EvaluationResult
    x, y = _xy()
    res = evaluate(x, y, seed=0, **QUICK)
    d = res.to_dict()
    assert list(d)[:12] == ["n", "w2sq", "w1", "frechet", "mmd_imq", "mmd_rbf", "kid",
                            "precision", "recall", "density", "coverage", "sample_size_curve"]
    text = repr(res)
    for word in ("W_2^2", "certified", "Frechet", "MMD^2 IMQ", "KID", "precision", "coverage"):
        assert word in text


def test_tensor_inputs_equal_numpy_inputs():
    x, y = _xy()
    a = evaluate(x, y, seed=1, **QUICK)
    b = evaluate(torch.as_tensor(x), torch.as_tensor(y), seed=1, **QUICK)
    assert a.w2sq["value"] == b.w2sq["value"] and a.mmd_imq == b.mmd_imq


def test_callable_generator_draws_n():
    x, _ = _xy(n=200, d=2)
    g = torch.Generator().manual_seed(0)
    calls = []

    def draw(n):
        calls.append(n)
        return torch.randn(n, 2, generator=g) + 6.0

    res = evaluate(x, draw, seed=0, **QUICK)
    assert calls == [200] and res.n == 200
    assert res.precision["value"] < 0.05 and res.w2sq["value"] > 60
    res = evaluate(draw, draw, n=50, seed=0, **QUICK)
    assert calls[1:] == [50, 50] and res.n == 50


def test_larger_sample_is_subsampled_to_n():
    x, y = _xy(n=100)
    res = evaluate(x, y[:40], seed=0, **QUICK)
    assert res.n == 40 and res.settings["available"] == {"real": 100, "fake": 40}
    real = res.arrays["real"]
    assert all(any(np.array_equal(r, xi) for xi in x) for r in real)  # rows of x, no duplicates
    assert len(np.unique(real, axis=0)) == 40


def test_images_are_flattened_and_their_shape_kept():
    rng = np.random.default_rng(0)
    imgs = rng.random((40, 5, 4))
    res = evaluate(imgs, imgs[::-1] * 0.9, seed=0, **QUICK)
    assert res.settings["image_shape"] == [5, 4] and res.settings["dim"] == 20


def test_features_callable_gets_numpy_batches():
    x, y = _xy(n=300)
    seen = []

    def first_two(batch):
        seen.append((type(batch), len(batch)))
        return batch[:, :2] * 2

    res = evaluate(x, y, features=first_two, seed=0, batch_size=128, **QUICK)
    assert res.settings["dim"] == 2 and seen[0] == (np.ndarray, 128) and len(seen) == 6
    ref = evaluate(x[:, :2] * 2, y[:, :2] * 2, seed=0, **QUICK)
    assert res.w2sq["value"] == pytest.approx(ref.w2sq["value"], rel=1e-12)


def test_features_module_in_eval_mode_without_grad():
    x, y = _xy()
    lin = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.Dropout(0.5)).double().train()
    res = evaluate(x, y, features=lin, seed=0, **QUICK)
    assert lin.training  # restored
    with torch.no_grad():
        want = lin[0](torch.as_tensor(x)).numpy()
    # rows are x's rows (n = len(x), no subsampling), in the module's dtype, dropout off
    np.testing.assert_allclose(res.arrays["real"], want, rtol=1e-12)
    f32 = torch.nn.Linear(3, 2)
    res = evaluate(x, y, features=f32, seed=0, **QUICK)
    with torch.no_grad():
        want = f32(torch.as_tensor(x, dtype=torch.float32)).numpy()
    np.testing.assert_allclose(res.arrays["real"], want, rtol=1e-6)


def test_features_from_an_otgen_run(tmp_path):
    from otgen.models import TrainConfig, fit, load_run

    cfg = TrainConfig(model="wae-mmd", data="mixture", data_options={"n_train": 100, "n_test": 40,
                                                                      "k": 4},
                      latent_dim=2, hidden=(8,), epochs=1, batch_size=20)
    fit(cfg, tmp_path / "run")
    x, y = _xy(n=40, d=2)
    res = evaluate(x, y, features=str(tmp_path / "run"), seed=0, **QUICK)
    enc = load_run(tmp_path / "run").model.encoder
    with torch.no_grad():
        want = enc(torch.as_tensor(x, dtype=torch.float32))[0].numpy()
    np.testing.assert_allclose(res.arrays["real"], want, rtol=1e-6)
    assert "encoder mean" in res.settings["features"]
    with pytest.raises(ValueError, match=r"features: the run .* encodes 2-D data, but the "
                                         r"samples have dimension 3"):
        evaluate(*_xy(n=40, d=3), features=tmp_path / "run", **QUICK)
    gan = TrainConfig(model="wgan-gp", data="mixture", latent_dim=2, hidden=(8,),
                      data_options={"n_train": 40, "n_test": 20}, batch_size=20)
    fit(gan, tmp_path / "gan", max_steps=1)
    with pytest.raises(ValueError, match=r"\(wgan-gp\) has no encoder"):
        evaluate(x, y, features=tmp_path / "gan", **QUICK)


def _png_folder(path, sizes, mode="L"):
    path.mkdir()
    rng = np.random.default_rng(0)
    for k, (h, w) in enumerate(sizes):
        arr = rng.integers(0, 256, (h, w, 3) if mode == "RGB" else (h, w), dtype=np.uint8)
        Image.fromarray(arr, mode).save(path / f"{k:03d}.png")
    return path


def test_load_images_gray_and_rgb_consistent(tmp_path):
    d = _png_folder(tmp_path / "mixed", [(6, 5)] * 3)
    Image.fromarray(np.zeros((6, 5, 3), np.uint8), "RGB").save(d / "zzz.png")
    (d / "notes.txt").write_text("ignored")
    imgs = load_images(d)
    assert imgs.shape == (4, 6, 5, 3) and 0 <= imgs.min() and imgs.max() <= 1
    gray = load_images(_png_folder(tmp_path / "gray", [(6, 5)] * 3))
    assert gray.shape == (3, 6, 5)
    first = np.asarray(Image.open(tmp_path / "gray" / "000.png"), np.float64) / 255
    np.testing.assert_array_equal(gray[0], first)  # sorted by name


def _bad_pt(tmp_path):
    p = tmp_path / "dict.pt"
    torch.save({"x": torch.zeros(3, 2)}, p)
    return str(p)


GOOD = np.random.default_rng(0).normal(size=(40, 2))
BAD = [  # (real, fake, kwargs, exception, message)
    (GOOD[:, 0], GOOD, {}, ValueError, r"real must be a 2-D array .*x\[:, None\]"),
    (np.where(np.arange(80).reshape(40, 2) == 3, np.nan, GOOD), GOOD, {}, ValueError,
     r"real contains 1 NaN or infinite"),
    (GOOD, np.full((40, 2), np.inf), {}, ValueError, r"fake contains 80 NaN or infinite"),
    (GOOD > 0, GOOD, {}, TypeError, r"real must hold real numbers .*bool"),
    (GOOD.astype(str), GOOD, {}, TypeError, r"real must hold real numbers"),
    (GOOD, np.zeros((40, 3)), {}, ValueError, r"fake has dimension 3 but real has dimension 2"),
    (GOOD, GOOD, {"n": 41}, ValueError, r"n=41 but real has only 40 samples"),
    (GOOD, GOOD, {"n": 8}, ValueError, r"n must be >= 16, got 8"),
    (GOOD[:10], GOOD, {}, ValueError, r"real has 10 samples; evaluate needs at least 16"),
    (GOOD, GOOD, {"cost": "euclidean"}, ValueError, r"unknown cost='euclidean'"),
    (lambda n: GOOD[:n], lambda n: GOOD[:n], {}, ValueError, r"n is required when real and fake"),
    (GOOD, lambda n: GOOD[:5], {}, ValueError, r"fake\(40\) returned 5 samples"),
    (GOOD, GOOD, {"features": lambda b: b[:1]}, ValueError, r"features\(real\) returned"),
    (GOOD, GOOD, {"features": lambda b: b[:, 0]}, ValueError, r"features\(real\) must return 2-D"),
    (GOOD, GOOD, {"features": lambda b: b * np.nan}, ValueError,
     r"features\(real\) contains 80 NaN"),
    (GOOD, GOOD, {"features": 3}, TypeError, r"features must be None, 'identity', a callable"),
    (GOOD, GOOD, {"features": "no/such/run"}, ValueError, r"features='no/such/run' is neither"),
    (GOOD, GOOD, {"repeats": 1}, ValueError, r"repeats must be 0 \(no bootstrap\) or >= 2"),
    (GOOD, GOOD, {"level": 1.5}, ValueError, r"level must lie in \(0, 1\)"),
    (GOOD, GOOD, {"k": 39}, ValueError, r"k must be < n - 1 = 39"),
    (GOOD, GOOD, {"seed": -1}, ValueError, r"seed must be >= 0"),
    (GOOD, GOOD, {"n": 20.5}, TypeError, r"n must be an integer"),
    ({"a": 1}, GOOD, {}, TypeError, r"real must be a numpy array or a torch tensor"),
]


@pytest.mark.parametrize("real, fake, kwargs, exc, message", BAD,
                         ids=[re.sub(r"\W+", "_", b[-1])[:40] for b in BAD])
def test_bad_inputs_raise_clear_errors(real, fake, kwargs, exc, message):
    with pytest.raises(exc, match=message):
        evaluate(real, fake, **{**QUICK, **kwargs})


def test_bad_files_raise_clear_errors(tmp_path):
    cases = [
        (str(tmp_path / "missing.npy"), r"real file .*missing\.npy does not exist"),
        (str(_png_folder(tmp_path / "empty", [])), r"real folder .* holds no PNG/JPEG image"),
        (str(_png_folder(tmp_path / "sizes", [(6, 5), (6, 5), (7, 5)])),
         r"real images have different sizes: 000\.png is 5x6, 002\.png is 5x7"),
        (_bad_pt(tmp_path), r"cannot read real file .*dict\.pt: expected a single tensor"),
    ]
    garbage = tmp_path / "garbage.npy"
    garbage.write_bytes(b"\x00\x01not numpy")
    cases.append((str(garbage), r"cannot read real file .*garbage\.npy"))
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "a.png").write_bytes(b"not a png")
    cases.append((str(broken), r"cannot read real image .*a\.png"))
    for path, message in cases:
        with pytest.raises(ValueError, match=message):
            evaluate(path, GOOD, **QUICK)


def test_load_points_formats(tmp_path):
    x = np.arange(12.0).reshape(6, 2)
    np.save(tmp_path / "a.npy", x)
    np.savez(tmp_path / "a.npz", first=x, second=x + 1)
    np.savetxt(tmp_path / "a.csv", x, delimiter=",")
    np.savetxt(tmp_path / "a.txt", x)
    torch.save(torch.as_tensor(x, dtype=torch.float32), tmp_path / "a.pt")
    for suffix in ("npy", "npz", "csv", "txt", "pt"):
        np.testing.assert_array_equal(load_points(tmp_path / f"a.{suffix}"), x)


def test_apply_features_identity_is_the_input():
    x = np.ones((3, 2))
    assert apply_features(None, x, "real") is x and apply_features("identity", x, "real") is x

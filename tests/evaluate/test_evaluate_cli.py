"""`otgen evaluate REAL FAKE`: every input kind, --json keys, --report files, bad inputs."""
from __future__ import annotations

import json
import re

import numpy as np
import ot
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from otgen.cli import app

runner = CliRunner(env={"COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb"})
KEYS = ["n", "w2sq", "w1", "frechet", "mmd_imq", "mmd_rbf", "kid", "precision", "recall",
        "density", "coverage", "sample_size_curve", "settings"]
FAST = ["--repeats", "0", "--no-curve"]


def _invoke(*args):
    res = runner.invoke(app, [str(a) for a in args])
    text = re.sub(r"[\u2500-\u257f]", " ", res.output + (res.stderr or ""))
    return res, re.sub(r"\s+", " ", text)


def _clouds(n=48, d=3):
    rng = np.random.default_rng(0)
    return rng.normal(size=(n, d)), rng.normal(size=(n, d)) + 1.0


def _write(path, arr):
    suffix = path.suffix
    if suffix == ".npy":
        np.save(path, arr)
    elif suffix == ".npz":
        np.savez(path, samples=arr)
    elif suffix == ".csv":
        np.savetxt(path, arr, delimiter=",")
    elif suffix == ".pt":
        torch.save(torch.as_tensor(arr), path)
    return path


@pytest.mark.parametrize("suffix", [".npy", ".npz", ".csv", ".pt"])
def test_every_file_kind_gives_the_same_numbers(tmp_path, suffix):
    x, y = _clouds()
    real, fake = _write(tmp_path / f"real{suffix}", x), _write(tmp_path / f"fake{suffix}", y)
    res, text = _invoke("evaluate", real, fake, "--json", tmp_path / "out.json", *FAST)
    assert res.exit_code == 0, text
    out = json.loads((tmp_path / "out.json").read_text())
    assert list(out) == KEYS
    for key in ("w2sq", "w1"):
        assert set(out[key]) >= {"value", "lower", "upper", "ci"}
    truth = ot.emd2(np.full(48, 1 / 48), np.full(48, 1 / 48), ot.dist(x, y))
    assert out["w2sq"]["lower"] <= truth * (1 + 1e-9) and truth <= out["w2sq"]["upper"] * (1 + 1e-9)
    assert out["n"] == 48 and "W_2^2" in text and "certified" in text


def _png_folder(path, n, size=(8, 8), shift=0):
    path.mkdir()
    rng = np.random.default_rng(shift)
    for k in range(n):
        arr = np.clip(rng.normal(100 + 80 * shift, 30, size), 0, 255).astype(np.uint8)
        Image.fromarray(arr, "L").save(path / f"img{k:03d}.png")
    return path


def test_image_folders_json_and_report(tmp_path):
    real, fake = _png_folder(tmp_path / "real", 40), _png_folder(tmp_path / "fake", 40, shift=1)
    res, text = _invoke("evaluate", real, fake, "--json", tmp_path / "e.json", "--report",
                        tmp_path / "rep", "--repeats", "5", "--seed", "1")
    assert res.exit_code == 0, text
    out = json.loads((tmp_path / "e.json").read_text())
    assert list(out) == KEYS and out["settings"]["image_shape"] == [8, 8]
    assert out["sample_size_curve"]["sizes"] == [10, 20, 40]
    assert len(out["w2sq"]["ci"]) == 2 and out["precision"]["value"] < 0.5
    files = {p.name for p in (tmp_path / "rep").iterdir()}
    assert files == {"report.md", "evaluation.json", "samples_real.png", "samples_fake.png",
                     "sample_size_curve.png", "projection.png"}
    for png in (tmp_path / "rep").glob("*.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    md = (tmp_path / "rep" / "report.md").read_text()
    assert "| W_2^2 |" in md and "Gelbrich" in md and "![projection.png](projection.png)" in md
    assert json.loads((tmp_path / "rep" / "evaluation.json").read_text()) == out


def test_n_and_seed_options(tmp_path):
    x, y = _clouds(n=100)
    real, fake = _write(tmp_path / "r.npy", x), _write(tmp_path / "f.npy", y)
    res, text = _invoke("evaluate", real, fake, "--n", 32, "--json", tmp_path / "a.json", *FAST)
    assert res.exit_code == 0, text
    assert json.loads((tmp_path / "a.json").read_text())["n"] == 32


def _bad_cases(tmp_path):
    x, y = _clouds()
    good = _write(tmp_path / "good.npy", x)
    nan = x.copy()
    nan[3, 1] = np.nan
    garbage = tmp_path / "garbage.npy"
    garbage.write_bytes(b"\x93NUMPY garbage")
    empty = tmp_path / "empty_dir"
    empty.mkdir()
    sizes = _png_folder(tmp_path / "sizes", 3)
    Image.fromarray(np.zeros((9, 8), np.uint8)).save(sizes / "zz.png")
    return good, [
        ((tmp_path / "missing.npy", good), "REAL file .*missing.npy does not exist"),
        ((good, garbage), "cannot read FAKE file .*garbage.npy"),
        ((empty, good), "REAL folder .*empty_dir holds no PNG/JPEG image"),
        ((sizes, good), "REAL images have different sizes"),
        ((_write(tmp_path / "nan.npy", nan), good), "real contains 1 NaN or infinite"),
        ((good, _write(tmp_path / "d2.npy", y[:, :2])), "fake has dimension 2 but real has "
                                                       "dimension 3"),
        ((good, _write(tmp_path / "bool.npy", x > 0)), "fake must hold real numbers"),
        ((good, _write(tmp_path / "small.npy", y[:10])), "fake has 10 samples; evaluate needs "
                                                         "at least 16"),
        ((good, good, "--n", 100), "n=100 but real has only 48 samples"),
        ((good, good, "--n", 4), "n must be >= 16"),
        ((good, good, "--cost", "cosine"), "unknown cost='cosine'"),
        ((good, good, "--features", tmp_path / "norun"), "is neither 'identity' nor an existing"),
        ((good, _write(tmp_path / "vec.npy", y[:, 0])), "fake must be a 2-D array"),
    ]


def test_bad_inputs_exit_2_with_a_message(tmp_path):
    good, cases = _bad_cases(tmp_path)
    for args, message in cases:
        res, text = _invoke("evaluate", *args, *FAST)
        assert res.exit_code == 2, (args, text)
        assert re.search(message, text), (message, text)
        assert res.exception is None or isinstance(res.exception, SystemExit), res.exception


def test_distance_still_reads_through_the_shared_loader(tmp_path):
    x, y = _clouds(n=20, d=2)
    res, text = _invoke("distance", _write(tmp_path / "x.pt", x), _write(tmp_path / "y.csv", y),
                        "--json")
    assert res.exit_code == 0, text
    truth = ot.emd2(np.full(20, 0.05), np.full(20, 0.05), ot.dist(x, y))
    assert json.loads(res.stdout)["value"] == pytest.approx(truth, rel=1e-8)

"""Data loaders: known structure of synthetic data, digits, and byte-level MNIST file checks."""
import gzip
import struct

import numpy as np
import pytest

from otgen.models.data import check_images, get_data, load_digits, load_mnist, read_idx
from otgen.models.synthetic import gaussian_mixture, manifold


def idx_bytes(arr: np.ndarray, code: int = 0x08) -> bytes:
    """IDX encoding written from the format's definition (big-endian header + C-order data)."""
    dt = {0x08: ">u1", 0x0D: ">f4"}[code]
    return (bytes([0, 0, code, arr.ndim]) + b"".join(struct.pack(">I", s) for s in arr.shape)
            + arr.astype(dt).tobytes())


def test_digits_shapes_range_and_split():
    d = load_digits()
    assert d.image_shape == (8, 8) and d.dim == 64
    assert len(d.train) + len(d.test) == 1797  # sklearn's bundled set
    assert len(d.test) == round(1797 * 0.2)
    assert float(d.train.min()) == 0.0 and float(d.train.max()) == 1.0  # 0..16 scaled by 1/16
    # the split is a permutation: no image lost or duplicated
    from sklearn.datasets import load_digits as sk
    raw = np.sort((sk().images / 16.0).reshape(1797, -1), axis=0)
    both = np.sort(np.concatenate([d.train.numpy(), d.test.numpy()]), axis=0)
    np.testing.assert_allclose(both, raw, atol=1e-7)
    assert not np.array_equal(load_digits(seed=1).test.numpy(), d.test.numpy())


def test_mixture_points_are_centers_when_std_zero():
    d = gaussian_mixture(100, 20, k=8, radius=2.0, std=0.0, seed=0)
    c = d.info["centers"]
    np.testing.assert_allclose(np.linalg.norm(c, axis=1), 2.0)
    x = d.train.numpy()
    dist = np.linalg.norm(x[:, None] - c[None], axis=2).min(1)
    assert dist.max() < 1e-6


@pytest.mark.parametrize("kind,dim", [("circle", 5), ("sphere", 7), ("torus", 6)])
def test_manifold_embedding_is_isometric(kind, dim):
    d = manifold(300, 50, kind=kind, ambient_dim=dim, seed=1)
    q = d.info["embedding"]
    np.testing.assert_allclose(q.T @ q, np.eye(q.shape[1]), atol=1e-12)
    x = d.train.numpy().astype(np.float64)
    u = x @ q
    np.testing.assert_allclose(u @ q.T, x, atol=1e-5)  # the points lie in span(Q)
    if kind == "torus":
        np.testing.assert_allclose(np.linalg.norm(u[:, :2], axis=1), 1, atol=1e-5)
        np.testing.assert_allclose(np.linalg.norm(u[:, 2:], axis=1), 1, atol=1e-5)
    else:
        np.testing.assert_allclose(np.linalg.norm(u, axis=1), 1, atol=1e-5)


def test_manifold_bad_arguments():
    with pytest.raises(ValueError, match="ambient_dim"):
        manifold(10, 5, kind="sphere", ambient_dim=2)
    with pytest.raises(ValueError, match="kind"):
        manifold(10, 5, kind="klein")


@pytest.mark.parametrize("gz", [False, True])
def test_read_idx_roundtrip(tmp_path, gz):
    arr = np.random.default_rng(0).integers(0, 256, (5, 28, 28)).astype(np.uint8)
    raw = idx_bytes(arr)
    p = tmp_path / ("imgs.idx" + (".gz" if gz else ""))
    p.write_bytes(gzip.compress(raw) if gz else raw)
    np.testing.assert_array_equal(read_idx(p), arr)


def test_read_idx_float_type():
    import tempfile, pathlib
    arr = np.linspace(0, 1, 12).reshape(3, 2, 2)
    with tempfile.TemporaryDirectory() as t:
        p = pathlib.Path(t) / "f.idx"
        p.write_bytes(idx_bytes(arr, 0x0D))
        np.testing.assert_allclose(read_idx(p), arr, rtol=1e-7)


def test_read_idx_rejects_bad_files(tmp_path):
    arr = np.zeros((4, 28, 28), np.uint8)
    raw = idx_bytes(arr)
    cases = {"trunc.idx": (raw[:-10], "truncated"), "head.idx": (raw[:9], "truncated"),
             "magic.idx": (b"\x01\x02" + raw[2:], "magic"), "extra.idx": (raw + b"\0", "malformed"),
             "code.idx": (raw[:2] + b"\x07" + raw[3:], "type code"), "empty.idx": (b"", "magic")}
    for name, (content, msg) in cases.items():
        (tmp_path / name).write_bytes(content)
        with pytest.raises(ValueError, match=msg):
            read_idx(tmp_path / name)
    (tmp_path / "bad.gz").write_bytes(b"not gzip at all")
    with pytest.raises(ValueError, match="cannot read"):
        read_idx(tmp_path / "bad.gz")
    with pytest.raises(ValueError, match="does not exist"):
        read_idx(tmp_path / "missing.idx")


def test_load_mnist_directory_and_npz(tmp_path):
    rng = np.random.default_rng(0)
    tr = rng.integers(0, 256, (30, 28, 28)).astype(np.uint8)
    te = rng.integers(0, 256, (10, 28, 28)).astype(np.uint8)
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(idx_bytes(tr)))
    (tmp_path / "t10k-images-idx3-ubyte").write_bytes(idx_bytes(te))
    d = load_mnist(tmp_path)
    assert d.image_shape == (28, 28) and d.train.shape == (30, 784) and d.test.shape == (10, 784)
    np.testing.assert_allclose(d.train.numpy(), tr.reshape(30, -1) / 255.0, atol=1e-7)
    np.savez(tmp_path / "m.npz", x_train=tr, x_test=te)
    d2 = load_mnist(tmp_path / "m.npz")
    np.testing.assert_array_equal(d2.test.numpy(), d.test.numpy())
    d3 = get_data(str(tmp_path / "m.npz"), limit=5)
    assert d3.train.shape == (5, 784)
    np.savez(tmp_path / "one.npz", images=tr)  # a single array: split at random
    d4 = load_mnist(tmp_path / "one.npz", test_fraction=0.2)
    assert len(d4.train) + len(d4.test) == 30


def test_load_mnist_rejects_bad_inputs(tmp_path):
    small = np.zeros((6, 8, 8), np.uint8)
    np.savez(tmp_path / "small.npz", x_train=small, x_test=small)
    with pytest.raises(ValueError, match="8x8 but 28x28"):
        load_mnist(tmp_path / "small.npz")
    assert load_mnist(tmp_path / "small.npz", image_shape=None).image_shape == (8, 8)
    good = np.zeros((6, 28, 28), np.uint8)
    np.savez(tmp_path / "mixed.npz", x_train=good, x_test=np.zeros((2, 27, 27), np.uint8))
    with pytest.raises(ValueError, match="test images"):
        load_mnist(tmp_path / "mixed.npz")
    raw = (tmp_path / "small.npz").read_bytes()
    (tmp_path / "torn.npz").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ValueError, match="cannot read .npz"):
        load_mnist(tmp_path / "torn.npz")
    with pytest.raises(ValueError, match="no t10k"):
        (tmp_path / "d").mkdir()
        (tmp_path / "d" / "train-images-idx3-ubyte").write_bytes(idx_bytes(good))
        load_mnist(tmp_path / "d")
    with pytest.raises(ValueError, match="does not exist"):
        load_mnist(tmp_path / "nope")


def test_check_images_values():
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        check_images(np.full((2, 4, 4), 2.0))
    with pytest.raises(ValueError, match="NaN"):
        check_images(np.full((2, 4, 4), np.nan))
    with pytest.raises(ValueError, match="shape"):
        check_images(np.zeros((4, 4)))
    np.testing.assert_allclose(check_images(np.full((1, 2, 2), 255, np.uint8)), 1.0)


def test_get_data_unknown():
    with pytest.raises(ValueError, match="unknown data"):
        get_data("cifar")

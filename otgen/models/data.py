r"""Training data: sklearn's bundled digits, synthetic 2-D / manifold data, local MNIST files.

Every loader returns a :class:`DataSplit`: float32 tensors ``train`` and ``test`` of shape
``(n, d)`` (images flattened row-major), plus ``image_shape`` (``(h, w)`` or None) and an
``info`` dict describing the known structure of synthetic data.

* :func:`load_digits` -- the 1,797 8x8 digits bundled with scikit-learn (no download), pixel
  values 0..16 scaled to [0, 1].  The default real data set of otgen.
* :func:`~otgen.models.synthetic.gaussian_mixture` and :func:`~otgen.models.synthetic.manifold`
  -- synthetic data with known structure (:mod:`otgen.models.synthetic`).
* :func:`load_mnist` -- MNIST / Fashion-MNIST from local IDX files (optionally gzipped) or a
  ``.npz`` archive (the keras layout ``x_train``, ``x_test``), validated byte by byte.
* :func:`get_data` -- the dispatcher used by :func:`otgen.models.fit` and the CLI.

References
----------
Y. LeCun, C. Cortes, C. Burges. The MNIST database (IDX format description).
E. Alpaydin, C. Kaynak. Optical Recognition of Handwritten Digits, UCI, 1998 (sklearn digits).
"""
from __future__ import annotations

import gzip
import math
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .._validate import check_int

#: IDX type codes (third magic byte) -> big-endian numpy dtypes
IDX_DTYPES = {0x08: np.dtype(">u1"), 0x09: np.dtype(">i1"), 0x0B: np.dtype(">i2"),
              0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


@dataclass
class DataSplit:
    r"""A train/test pair of flattened samples.

    Samples are rows :math:`x_i \in \mathbb{R}^d` of the empirical measures
    :math:`P_n = \frac1n \sum_i \delta_{x_i}` (train) and :math:`P_m` (test) that the models fit
    and are audited against.

    Attributes
    ----------
    train, test : torch.Tensor (n, d), float32
        Flattened samples (images row-major, pixels in [0, 1]).
    name : str
        Data set name (``"digits"``, ``"mixture"``, a manifold kind, ``"mnist"``).
    image_shape : tuple (h, w) or None
        Set for image data: row ``i`` reshapes to ``image_shape``.
    info : dict
        Known structure of synthetic data (centers, embedding matrix, ...).

    Examples
    --------
    >>> data = gaussian_mixture(100, 20, k=4, seed=0)
    >>> data, data.dim, data.is_image
    (DataSplit(name='mixture', train=(100, 2), test=(20, 2)), 2, False)

    References
    ----------
    O. Bousquet et al. The VEGAN cookbook. arXiv:1705.07642, 2017 (the data :math:`P_X` of the
    generative models).
    """

    train: torch.Tensor
    test: torch.Tensor
    name: str
    image_shape: tuple | None = None
    info: dict = field(default_factory=dict)

    @classmethod
    def from_arrays(cls, train, test, name: str, image_shape=None, info=None) -> "DataSplit":
        """A split from two arrays of rows (copied as contiguous float32 tensors)."""
        train, test = (torch.as_tensor(np.ascontiguousarray(t, dtype=np.float32))
                       for t in (train, test))
        return cls(train, test, name, image_shape, {} if info is None else info)

    @property
    def dim(self) -> int:
        return int(self.train.shape[1])

    @property
    def is_image(self) -> bool:
        return self.image_shape is not None

    def __repr__(self) -> str:
        shape = f", image_shape={self.image_shape}" if self.image_shape else ""
        return (f"DataSplit(name={self.name!r}, train={tuple(self.train.shape)}, "
                f"test={tuple(self.test.shape)}{shape})")


def _split(x: np.ndarray, test_fraction: float, seed: int):
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must lie in (0, 1), got {test_fraction}")
    n = x.shape[0]
    n_test = int(round(n * test_fraction))
    if n_test < 1 or n - n_test < 2:
        raise ValueError(f"cannot split {n} samples with test_fraction={test_fraction}: need at "
                         "least 2 training and 1 test sample")
    perm = np.random.default_rng(seed).permutation(n)
    return x[perm[n_test:]], x[perm[:n_test]]


def check_images(x, image_shape=None, name: str = "images") -> np.ndarray:
    """Validate an image array and return it as float64 ``(n, h, w)`` in [0, 1].

    uint8 arrays are divided by 255; float arrays must already lie in [0, 1].

    Raises
    ------
    ValueError
        Wrong number of dimensions, wrong image size (when ``image_shape`` is given), empty,
        NaN/inf, or float values outside [0, 1].
    """
    x = np.asarray(x)
    if x.ndim == 4 and x.shape[-1] == 1:
        x = x[..., 0]
    if x.ndim != 3:
        raise ValueError(f"{name} must have shape (n, height, width), got shape {x.shape}")
    if x.shape[0] == 0:
        raise ValueError(f"{name} is empty (shape {x.shape})")
    if image_shape is not None and tuple(x.shape[1:]) != tuple(image_shape):
        raise ValueError(f"{name} have size {x.shape[1]}x{x.shape[2]} but {image_shape[0]}x"
                         f"{image_shape[1]} was expected")
    if x.dtype == np.uint8:
        return x.astype(np.float64) / 255.0
    if not np.issubdtype(x.dtype, np.number) or x.dtype == bool:
        raise ValueError(f"{name} must hold numbers, got dtype {x.dtype}")
    x = x.astype(np.float64)
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} contain NaN or infinite pixel values")
    if x.min() < 0 or x.max() > 1:
        raise ValueError(f"{name} must be uint8 or floats in [0, 1], got values in "
                         f"[{x.min():.3g}, {x.max():.3g}]")
    return x


# --- real data ------------------------------------------------------------------------------
def load_digits(*, test_fraction: float = 0.2, seed: int = 0) -> DataSplit:
    """scikit-learn's bundled 8x8 handwritten digits, scaled to [0, 1] (no download).

    1,797 images; with the default ``test_fraction=0.2``, 1,438 train and 359 test images,
    split by a permutation drawn from ``seed``.  Pixels are the original 0..16 counts divided
    by 16.

    Parameters
    ----------
    test_fraction : float in (0, 1)
        Fraction of the images held out as ``test``.
    seed : int
        Seed of the train/test permutation.

    Returns
    -------
    DataSplit
        ``train`` (1438, 64) and ``test`` (359, 64) float32 tensors, ``image_shape=(8, 8)``.

    Examples
    --------
    >>> data = load_digits()
    >>> data, data.dim, bool(data.train.max() <= 1)
    (DataSplit(name='digits', train=(1438, 64), test=(359, 64), image_shape=(8, 8)), 64, True)

    References
    ----------
    E. Alpaydin, C. Kaynak. Optical Recognition of Handwritten Digits. UCI Machine Learning
    Repository, 1998.  F. Pedregosa et al. Scikit-learn: machine learning in Python. JMLR 12
    (2011).
    """
    from sklearn.datasets import load_digits as _sk

    images = _sk().images / 16.0
    tr, te = _split(images.reshape(len(images), -1), test_fraction, seed)
    return DataSplit.from_arrays(tr, te, "digits", (8, 8), {"classes": 10})


def read_idx(path) -> np.ndarray:
    """Read one IDX file (MNIST format), optionally gzip-compressed, with full validation.

    The format: two zero bytes, a type code (0x08 ubyte, 0x09 byte, 0x0B short, 0x0C int,
    0x0D float, 0x0E double), the number of dimensions, one big-endian uint32 per dimension,
    then the data in C order.

    Parameters
    ----------
    path : str or Path
        The IDX file; a ``.gz`` suffix is decompressed.

    Returns
    -------
    numpy.ndarray
        Array of the dimensions and dtype stated in the header (e.g. (60000, 28, 28) uint8).

    Raises
    ------
    ValueError
        Missing or unreadable file, bad magic number, unknown type code, truncated or oversized
        payload.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> raw = bytes([0, 0, 0x08, 1]) + (3).to_bytes(4, "big") + bytes([0, 128, 255])
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "tiny-idx1-ubyte"
    >>> _ = path.write_bytes(raw)
    >>> read_idx(path)
    array([  0, 128, 255], dtype=uint8)

    References
    ----------
    Y. LeCun, C. Cortes, C. J. C. Burges. The MNIST database of handwritten digits
    (http://yann.lecun.com/exdb/mnist/, file format section).
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"IDX file {path} does not exist")
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise ValueError(f"cannot read IDX file {path}: {exc}") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise ValueError(f"{path} is not an IDX file: bad magic number {raw[:4].hex() or 'empty'}"
                         " (expected 0000 followed by a type code and the number of dimensions)")
    code, ndim = raw[2], raw[3]
    if code not in IDX_DTYPES:
        raise ValueError(f"{path}: unknown IDX type code 0x{code:02x}")
    if ndim == 0 or len(raw) < 4 + 4 * ndim:
        raise ValueError(f"{path} is truncated: header announces {ndim} dimensions but the file "
                         f"has only {len(raw)} bytes")
    dims = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    dtype = IDX_DTYPES[code]
    need = math.prod(dims) * dtype.itemsize
    have = len(raw) - 4 - 4 * ndim
    if have < need:
        raise ValueError(f"{path} is truncated: shape {dims} needs {need} data bytes, found {have}")
    if have > need:
        raise ValueError(f"{path} is malformed: shape {dims} needs {need} data bytes, found {have}")
    return np.frombuffer(raw, dtype=dtype, offset=4 + 4 * ndim).reshape(dims).astype(
        dtype.newbyteorder("="))


def _read_npz(path: Path) -> dict:
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise ValueError(f"cannot read .npz file {path} (truncated or not an npz archive): "
                         f"{exc}") from None


def load_mnist(path, *, test_path=None, image_shape=(28, 28), test_fraction: float = 1 / 7,
               seed: int = 0, limit: int | None = None, name: str = "mnist") -> DataSplit:
    """MNIST / Fashion-MNIST from local files (no download), pixels scaled to [0, 1].

    Parameters
    ----------
    path : str or Path
        One of: a directory holding ``train-images-idx3-ubyte[.gz]`` and
        ``t10k-images-idx3-ubyte[.gz]``; an ``.npz`` archive with ``x_train`` and ``x_test``
        (keras layout) or a single image array; a single IDX image file.
    test_path : optional
        IDX or npz file of test images (when ``path`` is a single training file).
    image_shape : (h, w) or None
        Expected image size; a mismatch raises.  None accepts any size.
    test_fraction : float
        Used only when a single file is given and no ``test_path``: a random split.
    seed : int
        Seed of the random split (single file, no ``test_path``).
    limit : int, optional
        Keep only the first ``limit`` training (and test) images (quick experiments).
    name : str
        Name stored in the returned split.

    Returns
    -------
    DataSplit
        float32 tensors (n, h*w) with pixels in [0, 1], ``image_shape=(h, w)``.

    Raises
    ------
    ValueError
        Missing, unreadable or truncated files, wrong image size, bad pixel values.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> rng = np.random.default_rng(0)
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "tiny.npz"
    >>> np.savez(path, x_train=rng.integers(0, 256, (6, 4, 4), dtype=np.uint8),
    ...          x_test=rng.integers(0, 256, (2, 4, 4), dtype=np.uint8))
    >>> load_mnist(path, image_shape=(4, 4))
    DataSplit(name='mnist', train=(6, 16), test=(2, 16), image_shape=(4, 4))

    References
    ----------
    Y. LeCun, L. Bottou, Y. Bengio, P. Haffner. Gradient-based learning applied to document
    recognition. Proc. IEEE 86(11), 1998.  H. Xiao, K. Rasul, R. Vollgraf. Fashion-MNIST.
    arXiv:1708.07747, 2017.
    """
    path = Path(path)
    if not path.exists():
        raise ValueError(f"MNIST path {path} does not exist")
    test = None
    if path.is_dir():
        found = {}
        for split, stem in (("train", "train-images-idx3-ubyte"),
                            ("test", "t10k-images-idx3-ubyte")):
            cands = [path / stem, path / (stem + ".gz"), path / stem.replace("-idx3", ".idx3")]
            hit = next((c for c in cands if c.is_file()), None)
            if hit is None:
                raise ValueError(f"directory {path} has no {stem}[.gz] file")
            found[split] = read_idx(hit)
        train, test = found["train"], found["test"]
    elif path.suffix == ".npz":
        arrays = _read_npz(path)
        if "x_train" in arrays:
            train = arrays["x_train"]
            test = arrays.get("x_test")
        else:
            imgs = [v for v in arrays.values() if v.ndim >= 3]
            if len(imgs) != 1:
                raise ValueError(f"{path} must hold 'x_train' (and 'x_test') or exactly one image "
                                 f"array of shape (n, h, w); found keys {sorted(arrays)}")
            train = imgs[0]
    else:
        train = read_idx(path)
    if test_path is not None:
        tp = Path(test_path)
        test = _read_npz(tp).get("x_test") if tp.suffix == ".npz" else read_idx(tp)
        if test is None:
            raise ValueError(f"{tp} has no 'x_test' array")
    train = check_images(train, image_shape, "training images")
    if test is None:
        n = train.shape[0]
        flat_tr, flat_te = _split(train.reshape(n, -1), test_fraction, seed)
        shape = train.shape[1:]
    else:
        test = check_images(test, train.shape[1:], "test images")
        shape = train.shape[1:]
        flat_tr, flat_te = train.reshape(len(train), -1), test.reshape(len(test), -1)
    if limit is not None:
        limit = check_int(limit, "limit", 2)
        flat_tr, flat_te = flat_tr[:limit], flat_te[:limit]
    return DataSplit.from_arrays(flat_tr, flat_te, name, tuple(int(s) for s in shape),
                     {"source": str(path)})


# --- synthetic data -------------------------------------------------------------------------
def get_data(name: str = "digits", *, seed: int = 0, n_train: int = 2000, n_test: int = 500,
             **kwargs) -> DataSplit:
    """Data by name: ``"digits"``, ``"mixture"``, a manifold kind, or a path to MNIST files.

    Extra keyword arguments go to the loader (:func:`gaussian_mixture`, :func:`manifold`,
    :func:`load_mnist`).  ``n_train``/``n_test`` only apply to synthetic data.

    Parameters
    ----------
    name : str
        ``"digits"``, ``"mixture"``, ``"circle"``, ``"sphere"``, ``"torus"``, ``"swiss-roll"``,
        or an existing MNIST IDX / ``.npz`` file or directory.
    seed : int
        Seed passed to the loader.
    n_train, n_test : int
        Sample sizes of synthetic data.
    **kwargs
        Loader-specific options.

    Returns
    -------
    DataSplit
        The loader's split.

    Examples
    --------
    >>> get_data("mixture", n_train=50, n_test=10, k=3)
    DataSplit(name='mixture', train=(50, 2), test=(10, 2))

    References
    ----------
    See the loaders: :func:`load_digits`, :func:`gaussian_mixture`, :func:`manifold`,
    :func:`load_mnist`; O. Bousquet et al. The VEGAN cookbook. arXiv:1705.07642, 2017.
    """
    from .synthetic import SYNTHETIC, gaussian_mixture, manifold  # (synthetic imports DataSplit)

    if not isinstance(name, str) or not name:
        raise ValueError(f"data must be a non-empty string, got {name!r}")
    if name == "digits":
        return load_digits(seed=seed, **kwargs)
    if name == "mixture":
        return gaussian_mixture(n_train, n_test, seed=seed, **kwargs)
    if name in ("circle", "sphere", "torus", "swiss-roll"):
        return manifold(n_train, n_test, kind=name, seed=seed, **kwargs)
    p = Path(name)
    if p.exists():
        return load_mnist(p, seed=seed, **kwargs)
    raise ValueError(f"unknown data {name!r}: expected 'digits', one of {list(SYNTHETIC)}, or "
                     "an existing MNIST IDX/.npz file or directory")

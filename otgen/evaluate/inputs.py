r"""Reading and validating the two samples of :func:`otgen.evaluate`.

A sample is given as a file (``.npy``, ``.npz``, ``.csv``, ``.txt``, a torch tensor file
``.pt``/``.pth``), a folder of PNG/JPEG images, a numpy array, a torch tensor, or a callable
``draw(n) -> array`` that draws ``n`` samples (any torch generator plugs in).  Everything ends as
a float64 array ``(n, d)``: images (and any array of 3 or more dimensions) are flattened row by
row, and their shape is kept for the report's sample grid.

Every error is a ``ValueError`` or ``TypeError`` whose message starts with the argument's name
(``real``, ``fake``, ``n``, ...), see docs/robustness.md.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .._validate import check_int, check_points, is_tensor

#: the smallest sample size evaluate accepts (k-NN balls, a 4-point sample-size curve)
MIN_N = 16
#: file suffixes read as images when a folder is given
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


def load_points(path, name: str = "X") -> np.ndarray:
    """Read an array from a file or a folder of images (no validation of its values).

    Parameters
    ----------
    path : str or Path
        ``.npy``; ``.npz`` (its first array); ``.csv`` (comma separated); ``.pt``/``.pth`` (a
        single tensor, read with ``torch.load(weights_only=True)``); a folder of PNG/JPEG
        images (see :func:`load_images`); anything else is read as whitespace-separated text.
    name : str
        What the file is (``"X"``, ``"real"``, ...), for the error messages.

    Returns
    -------
    numpy.ndarray
        The stored array as is: ``(n, d)`` for tables, ``(n, h, w)`` or ``(n, h, w, 3)`` for
        image folders.

    Raises
    ------
    ValueError
        ``"{name} file ... does not exist"``, ``"cannot read {name} file ...: reason"``.

    Examples
    --------
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "x.csv")
    >>> np.savetxt(path, np.eye(2), delimiter=",")
    >>> load_points(path, "real")
    array([[1., 0.],
           [0., 1.]])

    References
    ----------
    numpy.lib.format (the .npy format); PyTorch ``torch.load(weights_only=True)``, which
    unpickles tensors only.
    """
    path = Path(path)
    if not path.exists():
        raise ValueError(f"{name} file {path} does not exist")
    if path.is_dir():
        return load_images(path, name)
    try:
        return _read_file(path)
    except Exception as exc:  # every reader's own failure, reported with the file's name
        raise ValueError(f"cannot read {name} file {path}: {exc}") from None


def _read_file(path: Path) -> np.ndarray:
    suffix = path.suffix.lower()
    if suffix == ".npy":
        return np.load(path, allow_pickle=False)
    if suffix == ".npz":
        with np.load(path, allow_pickle=False) as z:
            if not z.files:
                raise ValueError("the archive holds no array")
            return z[z.files[0]]
    if suffix in (".pt", ".pth"):
        import torch

        obj = torch.load(path, map_location="cpu", weights_only=True)
        if not is_tensor(obj):
            raise ValueError(f"expected a single tensor, got {type(obj).__name__}")
        return as_numpy(obj)
    return np.loadtxt(path, delimiter="," if suffix == ".csv" else None, ndmin=2)


def load_images(folder, name: str = "X") -> np.ndarray:
    r"""Read every PNG/JPEG image of a folder (sorted by file name) as floats in [0, 1].

    All images must have the same size.  If every image is grayscale (PIL modes 1, L, LA, I,
    I;16, F) they are read as grayscale, otherwise all are converted to RGB, so one folder
    gives one consistent array.  8-bit values are divided by 255.

    Parameters
    ----------
    folder : str or Path
        A directory holding ``*.png``, ``*.jpg`` or ``*.jpeg`` files (other files are ignored).
    name : str
        What the folder is, for the error messages.

    Returns
    -------
    numpy.ndarray
        ``(n, h, w)`` (grayscale) or ``(n, h, w, 3)`` (RGB), float64 in [0, 1].

    Raises
    ------
    ValueError
        No image in the folder, an unreadable image, images of different sizes.

    Examples
    --------
    >>> import tempfile
    >>> from PIL import Image
    >>> d = tempfile.mkdtemp()
    >>> for k in range(3):
    ...     Image.fromarray(np.full((4, 5), 50 * k, np.uint8)).save(f"{d}/{k}.png")
    >>> imgs = load_images(d)
    >>> imgs.shape, round(float(imgs[2, 0, 0]), 4)
    ((3, 4, 5), 0.3922)

    References
    ----------
    Pillow (PIL fork) documentation: image file formats and modes.
    """
    from PIL import Image

    folder = Path(folder)
    files = sorted(f for f in folder.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise ValueError(f"{name} folder {folder} holds no PNG/JPEG image "
                         f"({', '.join(IMAGE_SUFFIXES)})")
    images = []
    for f in files:
        try:
            with Image.open(f) as im:
                im.load()
                images.append(im.copy())
        except Exception as exc:
            raise ValueError(f"cannot read {name} image {f}: {exc}") from None
    sizes = {im.size for im in images}
    if len(sizes) > 1:
        first = images[0].size
        bad = next(f for f, im in zip(files, images) if im.size != first)
        raise ValueError(f"{name} images have different sizes: {files[0].name} is "
                         f"{first[0]}x{first[1]}, {bad.name} is "
                         f"{images[files.index(bad)].size[0]}x{images[files.index(bad)].size[1]};"
                         " resize them to one size first")
    return _stack_images(images)


def _stack_images(images) -> np.ndarray:
    gray = all(im.mode in ("1", "L", "LA", "I", "I;16", "F") for im in images)
    out = []
    for im in images:
        if gray and im.mode in ("I", "I;16", "F"):
            arr = np.asarray(im, np.float64)
            out.append(arr / (65535.0 if im.mode != "F" else max(float(arr.max()), 1.0)))
        else:
            out.append(np.asarray(im.convert("L" if gray else "RGB"), np.float64) / 255.0)
    return np.stack(out)


def as_numpy(obj):
    """A numpy view of a tensor (detached, on the CPU, floats widened); other objects as is."""
    if is_tensor(obj):
        import torch

        t = obj.detach().cpu()
        if t.dtype in (torch.bfloat16, torch.float16):
            t = t.float()
        return t.numpy()
    return obj


def flatten_sample(arr, name: str):
    """``(array (n, d) float64, image_shape or None)`` from an array of 2 or more dimensions.

    Arrays of 3 or more dimensions are images ``(n, *shape)`` and are flattened row by row;
    1-D and 0-D arrays are errors (with the usual ``x[:, None]`` hint); values are validated by
    :func:`otgen._validate.check_points` (real dtype, finite, non-empty).
    """
    arr = as_numpy(arr)
    shape = None
    if isinstance(arr, np.ndarray) and arr.ndim >= 3:
        shape = tuple(int(s) for s in arr.shape[1:])
        arr = arr.reshape(arr.shape[0], -1)
    x = check_points(arr, name).astype(np.float64, copy=False)
    return x, shape


def draw_samples(draw, count: int, name: str):
    """Call ``draw(count)`` and check that it returned ``count`` rows; ``(array, shape)``."""
    out = draw(count)
    x, shape = flatten_sample(out, name)
    if len(x) != count:
        raise ValueError(f"{name}({count}) returned {len(x)} samples; a draw(n) callable must "
                         f"return exactly n rows")
    return x, shape


def resolve_sample(obj, name: str):
    """An array-like or a path as ``(array (n, d), image_shape)``; callables are left out."""
    if isinstance(obj, (str, Path)):
        return flatten_sample(load_points(obj, name), name)
    return flatten_sample(obj, name)


def check_sample_size(n, available: int, name: str) -> int:
    """The requested ``n`` checked against ``MIN_N`` and the ``available`` samples."""
    if n is None:
        if available < MIN_N:
            raise ValueError(f"{name} has {available} samples; evaluate needs at least {MIN_N}")
        return available
    n = check_int(n, "n", MIN_N)
    if n > available:
        raise ValueError(f"n={n} but {name} has only {available} samples; pass n <= "
                         f"{available}")
    return n


def prepare_pair(real, fake, n, rng: np.random.Generator):
    """Both samples as float64 arrays of ``n`` rows each, and the image shape (or None).

    Arrays larger than ``n`` are subsampled without replacement (seeded by ``rng``); callables
    draw ``n`` samples (``n`` defaults to the other sample's size; both callables need ``n``).
    With ``n`` None, ``n = min(len(real), len(fake))``.
    """
    if n is not None:
        n = check_int(n, "n", MIN_N)
    arrays, shapes = {}, {}
    for name, obj in (("real", real), ("fake", fake)):
        if not callable(obj) or isinstance(obj, (str, Path)):
            arrays[name], shapes[name] = resolve_sample(obj, name)
    if not arrays and n is None:
        raise ValueError("n is required when real and fake are both draw(n) callables")
    sizes = {k: len(v) for k, v in arrays.items()}
    n = n if n is not None else min(check_sample_size(None, s, k) for k, s in sizes.items())
    for name, obj in (("real", real), ("fake", fake)):
        if name in arrays:
            check_sample_size(n, sizes[name], name)
            x = arrays[name]
            arrays[name] = x[rng.choice(len(x), n, replace=False)] if len(x) > n else x
        else:
            arrays[name], shapes[name] = draw_samples(obj, n, name)
    x, y = arrays["real"], arrays["fake"]
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"fake has dimension {y.shape[1]} but real has dimension {x.shape[1]}"
                         " (after flattening): both samples must live in the same space")
    known = {s for s in shapes.values() if s is not None}
    shape = known.pop() if len(known) == 1 else None  # one image shape, or none to draw
    return x, y, shape, sizes

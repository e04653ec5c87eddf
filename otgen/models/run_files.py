"""The files of a run directory: atomic checkpoints, config JSON and the metrics log.

Every write is atomic (a temp file, fsync where it matters, ``os.replace``), so a run killed at
any instant leaves the previous checkpoint intact and resumable; a torn last metrics line (a
kill mid-append) is skipped on reading.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import torch

#: the checkpoint format tag (refuses foreign files)
FORMAT = "otgen-checkpoint-v1"
#: the metrics log inside a run directory
METRICS = "metrics.jsonl"


# --- checkpoints ------------------------------------------------------------------------------
def save_checkpoint(path, payload: dict) -> None:
    """Write ``payload`` with :func:`torch.save` atomically: temp file, fsync, ``os.replace``."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        torch.save(payload, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    try:  # make the rename itself durable
        fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:  # pragma: no cover - directories cannot be fsync-ed on some systems
        pass


def load_checkpoint(path) -> dict:
    """Read a checkpoint written by :func:`fit`; ValueError if missing, truncated or foreign.

    Parameters
    ----------
    path : str or Path
        A ``checkpoint.pt`` file (``RUN_DIR/checkpoint.pt``).

    Returns
    -------
    dict
        ``format``, ``step``, ``done``, ``config`` (JSON text), ``model`` (state dict, CPU
        tensors), ``optimizers`` and ``pending_terms``.

    Raises
    ------
    ValueError
        No file, a torn / unreadable file, or not an otgen checkpoint.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> load_checkpoint(pathlib.Path(tempfile.mkdtemp()) / "checkpoint.pt")
    Traceback (most recent call last):
    ...
    ValueError: no checkpoint at ...checkpoint.pt
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"no checkpoint at {path}")
    try:
        ck = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for torn / foreign files
        raise ValueError(f"checkpoint {path} is unreadable or truncated ({type(exc).__name__}: "
                         f"{str(exc)[:200]}); delete it to restart the run from scratch") from None
    if not isinstance(ck, dict) or ck.get("format") != FORMAT:
        raise ValueError(f"{path} is not an otgen checkpoint (format "
                         f"{ck.get('format') if isinstance(ck, dict) else type(ck).__name__!r})")
    for key in ("step", "config", "model", "optimizers"):
        if key not in ck:
            raise ValueError(f"checkpoint {path} lacks the field {key!r}")
    return ck


# --- small I/O helpers ------------------------------------------------------------------------
def write_text_atomic(path: Path, text: str) -> None:
    """Replace ``path`` by ``text`` atomically (temp file, ``os.replace``)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def write_json(path: Path, obj) -> None:
    """Write ``obj`` as JSON atomically."""
    write_text_atomic(path, json.dumps(obj, indent=2))


def append_metrics(path: Path, line: dict) -> None:
    """Append one JSON line to a metrics file."""
    with open(path, "a") as f:
        f.write(json.dumps(line) + "\n")


def read_metrics(path) -> list[dict]:
    """The lines of a metrics.jsonl file (a torn last line, from a kill, is skipped).

    Parameters
    ----------
    path : str or Path
        ``metrics.jsonl`` or the run directory holding it.

    Returns
    -------
    list of dict
        One dict per logged step (``step``, ``epoch``, the mean loss terms, ``time_s``; or an
        ``event`` line such as ``"diverged"``); empty if the file does not exist.

    Examples
    --------
    >>> import tempfile
    >>> read_metrics(tempfile.mkdtemp())
    []
    """
    path = Path(path)
    if path.is_dir():
        path = path / METRICS
    out = []
    if not path.exists():
        return out
    for raw in path.read_text().splitlines():
        try:
            out.append(json.loads(raw))
        except json.JSONDecodeError:
            continue
    return out


def truncate_metrics(path: Path, step: int) -> None:
    """Keep only the lines up to ``step`` (those after the checkpoint will be replayed)."""
    if not path.exists():
        return
    keep = [line for line in read_metrics(path) if line.get("step", 0) <= step
            and line.get("event") is None]
    write_text_atomic(path, "".join(json.dumps(line) + "\n" for line in keep))



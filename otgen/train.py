"""``python -m otgen.train ARGS`` is ``otgen train ARGS``: the module entry point for torchrun.

::

    torchrun --standalone --nproc_per_node 4 -m otgen.train wae-gan --data digits --out runs/aae

Every process parses the same arguments and runs the ``otgen train`` command; started by
torchrun with more than one process it trains data-parallel with
:func:`otgen.models.distributed.fit_distributed` (gloo on the CPU, nccl on CUDA), otherwise
with :func:`otgen.models.fit`.  No logic lives here (see :mod:`otgen.models.distributed` and
docs/guide-distributed.md).
"""
from __future__ import annotations


def main(argv: list[str] | None = None) -> None:
    """Run the ``otgen train`` command with ``argv`` (default: ``sys.argv[1:]``).

    Parameters
    ----------
    argv : list of str, optional
        The arguments of ``otgen train``: ``MODEL --out DIR [options]``.

    Returns
    -------
    None
        Exits the process with the command's status (0 ok, 2 bad input, 3 diverged), as the
        ``otgen`` console script does.

    Examples
    --------
    >>> from otgen.train import main
    >>> main(["--help"])  # doctest: +SKIP
    Usage: python -m otgen.train [OPTIONS] MODEL ...

    References
    ----------
    PyTorch documentation, "torchrun (Elastic Launch)": ``torchrun ... -m module args``,
    https://pytorch.org/docs/stable/elastic/run.html
    """
    import sys

    import typer

    from .cli import train

    cmd = typer.Typer(add_completion=False)
    cmd.command()(train)
    cmd(args=sys.argv[1:] if argv is None else list(argv), prog_name="python -m otgen.train")


if __name__ == "__main__":  # pragma: no cover - exercised by the torchrun test in a subprocess
    main()

"""Fuzz `otgen distance` over its file inputs: every input gives a certified answer or a clean
error exit (code 1/2 with a message), never a traceback or a NaN."""
import json
import math

import numpy as np
from hypothesis import HealthCheck, given, settings, strategies as st
from typer.testing import CliRunner

from otgen.cli import app

runner = CliRunner()

arrays = st.one_of(
    # well-formed clouds, sometimes with non-finite entries or odd shapes
    st.tuples(st.integers(0, 6), st.integers(0, 4), st.sampled_from(["f8", "f4", "i8", "?", "c16"]),
              st.sampled_from([None, np.nan, np.inf, 1e300])),
    st.tuples(st.just(-1), st.integers(0, 3), st.just("f8"), st.none()),  # 1-D / 3-D arrays
)


def build(spec, rng):
    n, d, dtype, poison = spec
    if n == -1:
        shape = [(5,), (2, 3, 2), ()][d % 3]
        return rng.normal(size=shape)
    arr = (rng.normal(size=(n, d)) * 3).astype(dtype) if dtype != "?" else rng.random((n, d)) > .5
    if poison is not None and arr.size and dtype in ("f8", "f4"):
        with np.errstate(over="ignore"):  # 1e300 overflows to inf in float32: also a case
            arr.flat[0] = poison
    return arr


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sx=arrays, sy=arrays, fmt=st.sampled_from(["npy", "csv", "garbage", "empty"]),
       seed=st.integers(0, 1000), method=st.sampled_from(["auto", "exact", "sinkhorn", "sliced"]))
def test_distance_never_crashes(tmp_path, sx, sy, fmt, seed, method):
    rng = np.random.default_rng(seed)
    if sx[0] >= 0 and sy[0] >= 0 and seed % 2 == 0:  # half the time, same dimension
        sy = (sy[0], sx[1], sy[2], sy[3])
    paths = []
    for k, spec in enumerate((sx, sy)):
        arr = build(spec, rng)
        path = tmp_path / f"{seed}_{k}.{fmt if fmt in ('npy', 'csv') else 'npy'}"
        if fmt == "npy":
            np.save(path, arr)
        elif fmt == "csv":
            path.write_text("\n".join(",".join(map(str, np.atleast_1d(r))) for r in np.atleast_1d(arr)))
        elif fmt == "garbage":
            path.write_bytes(rng.bytes(int(rng.integers(0, 64))))
        else:
            path.write_bytes(b"")
        paths.append(str(path))
    res = runner.invoke(app, ["distance", *paths, "--method", method, "--json"])
    if res.exception is not None and not isinstance(res.exception, SystemExit):
        raise AssertionError(f"traceback instead of a clean error: {res.exception!r}\n{res.output}")
    if res.exit_code == 0:
        out = json.loads(res.stdout)
        assert all(math.isfinite(out[k]) for k in ("value", "lower", "upper"))
        assert out["lower"] <= out["upper"] * (1 + 1e-9) + 1e-12
    else:
        assert res.exit_code in (1, 2)
        assert res.output.strip(), "an error exit must say why"

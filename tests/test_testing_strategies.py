"""otgen.testing: every strategy draws valid inputs, and the known constants are the right ones."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from otgen.testing import (discrete_encoders, encoder_problems, latent_samples, lipschitz_maps,
                           point_clouds, probability_vectors, weighted_point_clouds)

SETTINGS = settings(max_examples=100, deadline=None)
ROOT = Path(__file__).resolve().parents[1]


@SETTINGS
@given(st.integers(1, 12).flatmap(lambda n: st.tuples(st.just(n), probability_vectors(n))),
       st.booleans())
def test_probability_vectors(case, _):
    n, w = case
    assert w.shape == (n,) and np.all(w > 0) and abs(w.sum() - 1) < 1e-12


@SETTINGS
@given(st.integers(1, 6).flatmap(lambda n: probability_vectors(n, allow_zero=True)))
def test_probability_vectors_with_zeros_keep_mass(w):
    assert np.all(w >= 0) and abs(w.sum() - 1) < 1e-12


@SETTINGS
@given(weighted_point_clouds(min_points=2, max_points=5, min_dim=2, max_dim=4, scale=3.0))
def test_weighted_point_clouds(cloud):
    x, a = cloud
    assert x.dtype == np.float64 and 2 <= x.shape[0] <= 5 and 2 <= x.shape[1] <= 4
    assert np.all(np.isfinite(x)) and np.abs(x).max() <= 3.0
    assert a.shape == (x.shape[0],) and abs(a.sum() - 1) < 1e-12


@SETTINGS
@given(point_clouds(4, 3), latent_samples(dim=2))
def test_fixed_sizes_and_latent_defaults(x, prior):
    z, b = prior
    assert x.shape == (4, 3) and z.shape[1] == 2 and np.abs(z).max() <= 3.0
    assert abs(b.sum() - 1) < 1e-12


@SETTINGS
@given(discrete_encoders(5, 4))
def test_discrete_encoders_are_row_stochastic(Q):
    assert Q.shape == (5, 4) and np.all(Q >= 0)
    np.testing.assert_allclose(Q.sum(1), 1.0, atol=1e-12)


@SETTINGS
@given(lipschitz_maps(3, 2), point_clouds(dim=3, min_points=2, max_points=10))
def test_lipschitz_maps_never_exceed_their_constant(G, z):
    # brute force over pairs, written independently of otgen.theory.lipschitz_constant
    gz = G(z)
    assert gz.shape == (len(z), 2)
    for i in range(len(z)):
        for j in range(len(z)):
            assert np.linalg.norm(gz[i] - gz[j]) <= G.constant * np.linalg.norm(z[i] - z[j]) \
                * (1 + 1e-9) + 1e-12


@SETTINGS
@given(lipschitz_maps(3, 2))
def test_lipschitz_maps_constant_is_attained(G):
    # along the direction of steepest ascent the ratio is exactly the constant
    if G.kind == "linear":
        _, s, Vt = np.linalg.svd(G.matrix)
        d = Vt[0]
        base = np.zeros(3)
    else:
        d = G.u
        base = G.u * (G.threshold + 1.0 if G.kind == "fold" else 0.0)
    h = 0.05 if G.kind == "clamp" else 0.5
    pair = G(np.vstack([base, base + h * d]))
    assert np.linalg.norm(pair[1] - pair[0]) / h == pytest.approx(G.constant, rel=1e-9)


@SETTINGS
@given(encoder_problems(max_points=4, max_latent=3, max_dim=2, max_latent_dim=1))
def test_encoder_problems_are_consistent(problem):
    x, a, z, b, G = problem
    assert G(z).shape == (len(z), x.shape[1]) and G.dz == z.shape[1] and G.dx == x.shape[1]
    assert len(x) <= 4 and len(z) <= 3
    assert abs(a.sum() - 1) < 1e-12 and abs(b.sum() - 1) < 1e-12


@pytest.mark.parametrize("strategy, match", [
    (lipschitz_maps(1, 1, min_constant=2, max_constant=1), "min_constant"),
    (lipschitz_maps(1, 1, kinds=("spline",)), "kinds"),
    (probability_vectors(0), "n must be >= 1"),
    (discrete_encoders(2, 0), "k must be >= 1"),
    (point_clouds(min_points=3, max_points=2), "min_points"),
])
def test_strategy_arguments_are_validated(strategy, match):
    @settings(max_examples=1, deadline=None)
    @given(strategy)
    def draw(_):
        pass

    with pytest.raises(ValueError, match=match):
        draw()


def test_docs_example_is_the_tested_file():
    """The worked example in docs/property-tests.md is verbatim tests/test_docs_example.py."""
    doc = (ROOT / "docs" / "property-tests.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", doc, flags=re.S)
    source = (ROOT / "tests" / "test_docs_example.py").read_text()
    assert blocks and blocks[0].strip() == source.strip()

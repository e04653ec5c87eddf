"""Testing helpers for users of otgen: hypothesis strategies for property-based tests.

Import the strategies and write properties of your own code against otgen's exact solvers::

    from hypothesis import given, settings
    from otgen.testing import encoder_problems

    @settings(max_examples=100, deadline=None)
    @given(encoder_problems())
    def test_my_property(problem):
        x, a, z, b, G = problem
        ...

See ``docs/property-tests.md`` for a worked example.
"""
from .families import FAMILIES, data_family
from .hostile import HostileProblem, hostile_layouts, truth_interval
from .strategies import (EncoderProblem, LipschitzMap, coordinates, discrete_encoders,
                         encoder_problems, latent_samples, lipschitz_maps, point_clouds,
                         probability_vectors, weighted_point_clouds)

__all__ = ["coordinates", "probability_vectors", "point_clouds", "weighted_point_clouds",
           "latent_samples", "lipschitz_maps", "LipschitzMap", "discrete_encoders",
           "encoder_problems", "EncoderProblem", "hostile_layouts", "HostileProblem",
           "truth_interval", "data_family", "FAMILIES"]

"""Rates: nats inside losses, bits in reports."""

import math

import jax.numpy as jnp
import numpy as np
import pytest

from lossyless_jax.entropy.rates import bits_to_nats, nats_to_bits, rate_bits, rate_nats


def test_rate_nats_array_and_pytree():
  p = jnp.full((2, 3), 0.5)
  np.testing.assert_allclose(rate_nats(p), [3 * math.log(2)] * 2, rtol=1e-6)
  np.testing.assert_allclose(rate_bits(p), [3.0, 3.0], rtol=1e-6)
  tree = {"z": p, "side": jnp.full((2, 4, 5), 0.25)}
  np.testing.assert_allclose(rate_bits(tree), [3.0 + 40.0] * 2, rtol=1e-6)
  np.testing.assert_allclose(rate_nats(jnp.full((2, 3), 0.5), batch_axes=2), np.full((2, 3), math.log(2)), rtol=1e-6)
  with pytest.raises(ValueError):
    rate_nats({})


def test_unit_conversions():
  assert nats_to_bits(math.log(2)) == pytest.approx(1.0)
  assert bits_to_nats(8.0) == pytest.approx(8 * math.log(2))

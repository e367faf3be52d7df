"""Vector scale-mean hyperprior: sizes, train/eval semantics, gradients, rate bookkeeping."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lossyless_jax.entropy import factorized as fz
from lossyless_jax.entropy.gaussian import gaussian_likelihood
from lossyless_jax.entropy.hyperprior import VectorHyperprior, default_hidden, default_side_dim
from lossyless_jax.entropy.rates import rate_nats
from lossyless_jax.entropy.testing import numpy_params


@pytest.mark.parametrize("dim,side,hidden", [(12, 10, 256), (128, 25, 256), (512, 102, 512)])
def test_default_sizes(dim, side, hidden):
  assert default_side_dim(dim) == side and default_hidden(dim) == hidden
  shapes = jax.eval_shape(VectorHyperprior(dim).init, {"params": jax.random.key(0)}, jnp.zeros((1, dim)))["params"]
  assert shapes["h_a"]["dense_0"]["kernel"].shape == (dim, hidden)
  assert shapes["h_a"]["dense_1"]["kernel"].shape == (hidden, hidden)
  assert shapes["h_a"]["dense_2"]["kernel"].shape == (hidden, side)
  assert shapes["h_s"]["dense_0"]["kernel"].shape == (side, hidden)
  assert shapes["h_s"]["dense_2"]["kernel"].shape == (hidden, 2 * dim)
  assert shapes["side_density"]["quantiles"].shape == (side, 3)
  assert "dense_3" not in shapes["h_a"]


def test_eval_and_train_semantics():
  dim = 12
  m = VectorHyperprior(dim, hidden=32)
  params = numpy_params(m, dim, seed=0, perturb=0.2)
  z = jnp.asarray(np.random.default_rng(0).normal(0, 3, (5, dim)), jnp.float32)

  @jax.jit
  def run(params, z, key):
    v = {"params": params}
    z_hat, lik = m.apply(v, z)
    side = m.apply(v, z, method=VectorHyperprior.hyper_analysis)
    side_hat = jnp.round(side - fz.medians(params["side_density"])) + fz.medians(params["side_density"])
    scales, means = m.apply(v, side_hat, method=VectorHyperprior.hyper_synthesis)
    z_t, lik_t = m.apply(v, z, train=True, rngs={"noise": key})

    def loss(p):
      _, lk = m.apply({"params": p}, z, train=True, rngs={"noise": key})
      return rate_nats(lk).mean()

    grads = jax.grad(loss)(params)
    return z_hat, lik, scales, means, z_t, lik_t, grads

  z_hat, lik, scales, means, z_t, lik_t, grads = run(params, z, jax.random.key(1))
  assert set(lik) == {"z", "side"} and lik["z"].shape == (5, dim) and lik["side"].shape == (5, 10)
  np.testing.assert_array_equal(z_hat, jnp.round(z - means) + means)
  np.testing.assert_allclose(lik["z"], gaussian_likelihood(z_hat, scales, means), rtol=1e-5)
  assert float(jnp.abs(z_t - z).max()) <= 0.5
  r = rate_nats(lik_t)
  np.testing.assert_allclose(r, -jnp.log(lik_t["z"]).sum(1) - jnp.log(lik_t["side"]).sum(1), rtol=1e-6)
  # the rate trains h_a, h_s and the side density, but never the quantiles
  assert float(jnp.abs(grads["h_a"]["dense_0"]["kernel"]).sum()) > 0
  assert float(jnp.abs(grads["h_s"]["dense_2"]["kernel"]).sum()) > 0
  assert float(jnp.abs(grads["side_density"]["matrix_0"]).sum()) > 0
  assert float(jnp.abs(grads["side_density"]["quantiles"]).max()) == 0.0


def test_rejects_wrong_dim():
  m = VectorHyperprior(12, hidden=32)
  with pytest.raises(ValueError, match="dim=12"):
    jax.eval_shape(m.init, {"params": jax.random.key(0)}, jnp.zeros((1, 11)))

"""WGAN-GP losses (losses/wgan_gp.py) and the critic (nets/generators.DCGANCritic)."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lossyless_jax.losses import wgan_gp
from lossyless_jax.nets import generators as G


def _linear(w):
  return lambda x: x.reshape(x.shape[0], -1) @ w


def test_gradient_penalty_of_a_linear_critic_is_exact():
  """f(x) = w·x has ‖∇f‖ = ‖w‖ at every interpolate, so GP = λ(‖w‖ − 1)² whatever ε."""
  kw, kr, kf = jax.random.split(jax.random.key(0), 3)
  w = jax.random.normal(kw, (48,))
  real, fake = jax.random.uniform(kr, (16, 4, 4, 3)), jax.random.uniform(kf, (16, 4, 4, 3))
  want = 10.0 * (float(jnp.linalg.norm(w)) - 1.0) ** 2
  for seed in range(3):
    gp = wgan_gp.gradient_penalty(_linear(w), real, fake, jax.random.key(seed))
    assert float(gp) == pytest.approx(want, rel=1e-5)
  assert float(wgan_gp.gradient_penalty(_linear(w / jnp.linalg.norm(w)), real, fake, jax.random.key(0), 3.0)) < 1e-8
  # d GP / d w = 2λ(‖w‖ − 1) w / ‖w‖: the penalty is differentiable in the critic's parameters.
  g = jax.grad(lambda v: wgan_gp.gradient_penalty(_linear(v), real, fake, jax.random.key(0)))(w)
  norm = jnp.linalg.norm(w)
  np.testing.assert_allclose(g, 20.0 * (norm - 1.0) * w / norm, rtol=1e-4)


def test_critic_and_generator_losses():
  w = jnp.full((12,), 0.5)  # ‖w‖ = sqrt(3)
  real, fake = jnp.ones((5, 12)), jnp.zeros((5, 12))
  value, m = wgan_gp.critic_loss(_linear(w), real, fake, jax.random.key(0))
  assert float(m["wasserstein"]) == pytest.approx(6.0)  # E f(x) − E f(x̃) = 0.5 · 12
  assert float(value) == pytest.approx(10.0 * (np.sqrt(3.0) - 1.0) ** 2 - 6.0, rel=1e-5)
  assert float(wgan_gp.generator_loss(jnp.array([1.0, 3.0]))) == -2.0
  with pytest.raises(ValueError, match="same shape"):
    wgan_gp.critic_loss(_linear(w), real, fake[:4], jax.random.key(0))


def test_dcgan_critic_shapes():
  critic = G.DCGANCritic(channels=4)
  x = jnp.zeros((3, 32, 32, 3))
  params = jax.eval_shape(critic.init, jax.random.key(0), x)
  assert jax.eval_shape(critic.apply, params, x).shape == (3,)
  assert params["params"]["conv_3"]["kernel"].shape == (4, 4, 16, 32)  # c_d, 2c_d, 4c_d, 8c_d
  with pytest.raises(ValueError, match="power-of-two side"):
    jax.eval_shape(critic.init, jax.random.key(0), jnp.zeros((1, 28, 28, 1)))

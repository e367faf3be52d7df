"""WGAN-GP losses (Gulrajani et al., NeurIPS 2017), the pretraining of NERD's image generator (the authors' code).

Pure functions of a critic ``critic_fn(x (B, ...)) -> scores (B,)`` that scores each example on its
own (no batch statistics), so per-example input gradients come from one ``grad`` of the sum:

* :func:`gradient_penalty` — ``λ E_x̂[(‖∇_x̂ f(x̂)‖₂ − 1)²]`` on interpolates
  ``x̂ = ε x + (1 − ε) x̃``, ``ε ~ U[0, 1]`` per example (their eq. (3)); λ = 10 (theirs and the
  NERD authors' ``wgan_gp.py``).
* :func:`critic_loss` — ``E f(x̃) − E f(x) + GP`` (eq. (3)), minimised over the critic.
* :func:`generator_loss` — ``−E f(G(z))``, minimised over the generator.
"""
from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp

__all__ = ["GP_WEIGHT", "gradient_penalty", "critic_loss", "generator_loss"]

GP_WEIGHT = 10.0  # λ of the gradient penalty (Gulrajani et al.; the NERD authors' setting)

CriticFn = Callable[[jnp.ndarray], jnp.ndarray]


def _check_pair(real, fake):
  if real.shape != fake.shape:
    raise ValueError(f"WGAN-GP: real {real.shape} and fake {fake.shape} batches must have the same shape")


def gradient_penalty(critic_fn: CriticFn, real, fake, key, weight: float = GP_WEIGHT):
  """``λ mean_i (‖∇f(x̂_i)‖₂ − 1)²`` with ``x̂_i = ε_i x_i + (1 − ε_i) x̃_i``, ``ε_i ~ U[0, 1]`` (eq. (3)).

  Differentiable in the critic's parameters (double backprop through ``critic_fn``). The norm is
  ``sqrt(‖g‖² + 1e-12)`` so that its gradient stays finite at g = 0.
  """
  _check_pair(real, fake)
  eps = jax.random.uniform(key, (real.shape[0],) + (1,) * (real.ndim - 1), real.dtype)
  x_hat = eps * real + (1.0 - eps) * fake
  grads = jax.grad(lambda x: jnp.sum(critic_fn(x)))(x_hat)
  norms = jnp.sqrt(jnp.sum(jnp.square(grads.reshape(grads.shape[0], -1)), axis=1) + 1e-12)
  return weight * jnp.mean(jnp.square(norms - 1.0))


def critic_loss(critic_fn: CriticFn, real, fake, key, weight: float = GP_WEIGHT):
  """``E f(x̃) − E f(x) + GP`` (eq. (3)); ``fake`` should be behind ``stop_gradient``.

  Returns ``(loss, metrics)`` with ``wasserstein`` (``E f(x) − E f(x̃)``, the critic's estimate of
  W₁) and ``gradient_penalty``.
  """
  _check_pair(real, fake)
  wasserstein = jnp.mean(critic_fn(real)) - jnp.mean(critic_fn(fake))
  gp = gradient_penalty(critic_fn, real, fake, key, weight)
  return gp - wasserstein, {"wasserstein": wasserstein, "gradient_penalty": gp}


def generator_loss(fake_scores):
  """``−E f(G(z))`` from the critic's scores of generated samples."""
  return -jnp.mean(fake_scores)

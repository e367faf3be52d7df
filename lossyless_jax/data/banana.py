"""The 2-D banana source of "Lossy Compression for Lossless Prediction" (Sec. 5.1, App. E.1, F.1).

Source (App. E.1). The paper prints
``X ~ N(0, diag([3, 0.5]))``, ``x2 <- x2 + 0.1 x1^2 - 9``, rotate by -40°, shift by ``[-3, -4]``,
but the authors' code (``BananaDistribution(curvature=0.05, factor=6, location=[-1.5, -2],
angle=-40, scale=1/2)``, after the TF-compression toy-sources notebook) computes

    x ~ N(0, diag(std=[3, 0.5]))            # 3 and 0.5 are standard deviations
    x2 <- x2 + 0.1 (x1^2 - 9)               # bend
    x  <- Rot(-40°) x                        # counter-clockwise rotation by -40°
    x  <- x + [-0.75, -1.0]                  # shift

``variant="code"`` (default) is this; ``variant="paper"`` is the formula as printed (it puts the
mass around x2 ≈ -8, far outside the [-5, 5]² window of the paper's plots, which is why the code
is taken as the reference).

Invariances (App. E.1, F.1), each with
- a maximal invariant ``M(x)`` (``maximal_invariant``),
- an orbit representative in input space (``representative``; VIC's reconstruction target), and
- a keyed group action / augmentation (``augment``):

| invariance      | M(x)     | representative               | augmentation A(x)                          |
|-----------------|----------|------------------------------|--------------------------------------------|
| "rotation"      | ‖x‖₂     | ‖x‖₂·(cos 225°, sin 225°)     | rotate x by θ ~ U[0°, 360°)                |
| "x_translation" | x₂       | (0, x₂)                       | (t, x₂), t ~ U[q₁₀(x₁), q₉₀(x₁)]            |
| "y_translation" | x₁       | (x₁, 0)                       | (x₁, t), t ~ U[q₁₀(x₂), q₉₀(x₂)]            |

Rotation representative: E.1 prints ``Rot(225)·[0, ‖x‖]`` ("the point with the same radius but
positioned at 225 degrees"); the code places ``[-‖x‖, 0]`` rotated by +45°, i.e. polar angle
225° ("7.5 o'clock"). Rotating [0, r] by 225° would land at 315°, so the printed formula and the
sentence disagree; we follow the sentence and the code (polar angle 225°). The y-translation
maximal invariant is ``[x1, 0]`` (E.1; F.1's ``[0, x2]`` is a typo).

Translations follow the code: the translated coordinate is *replaced* by a uniform draw between
the 10% and 90% quantiles of that coordinate under the source (so ``A(x)`` depends on ``x`` only
through ``M(x)``: Assumption 7). ``translation_range`` estimates the quantiles once from 10⁶ draws
with a fixed key.

All samplers take an explicit ``jax.random`` key and are jittable.

How the authors' code feeds Banana: the encoder
input is the raw sample ``x``; VIC's target is ``representative(x)``; BINCE's positive is a random
orbit element ``augment(representative(x))``; VC reconstructs ``x``. The theory's augmented source
(Eq. 7) would instead encode ``augment(x)``; ``sample_batch`` returns both so the method can choose.
"""
from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

__all__ = [
    "INVARIANCES",
    "sample_banana",
    "rotate2d",
    "maximal_invariant",
    "representative",
    "augment",
    "translation_range",
    "mesh_grid",
    "sample_batch",
]

INVARIANCES = ("rotation", "x_translation", "y_translation")

_VARIANTS = {
    # std, curvature c and offset f in x2 += c (x1^2 - f^2) [code] or x2 += c x1^2 - f^2 [paper], angle, shift
    "code": dict(std=(3.0, 0.5), curvature=0.1, offset=9.0, angle=-40.0, shift=(-0.75, -1.0), paper_form=False),
    "paper": dict(std=(3.0, 0.5), curvature=0.1, offset=9.0, angle=-40.0, shift=(-3.0, -4.0), paper_form=True),
}

_REP_ANGLE_DEG = 225.0


def rotate2d(x: jax.Array, degrees) -> jax.Array:
  """Rotate points ``(..., 2)`` counter-clockwise by ``degrees`` (broadcasts over leading dims)."""
  theta = jnp.deg2rad(jnp.asarray(degrees, jnp.float32))
  c, s = jnp.cos(theta), jnp.sin(theta)
  x1, x2 = x[..., 0], x[..., 1]
  return jnp.stack([c * x1 - s * x2, s * x1 + c * x2], axis=-1)


def sample_banana(key: jax.Array, n: int, *, variant: str = "code") -> jax.Array:
  """Draw ``n`` i.i.d. banana points, shape ``(n, 2)`` float32."""
  if variant not in _VARIANTS:
    raise ValueError(f"variant must be one of {sorted(_VARIANTS)}, got {variant!r}")
  v = _VARIANTS[variant]
  g = jax.random.normal(key, (int(n), 2), jnp.float32) * jnp.asarray(v["std"], jnp.float32)
  x1, x2 = g[:, 0], g[:, 1]
  if v["paper_form"]:
    x2 = x2 + v["curvature"] * x1**2 - v["offset"]
  else:
    x2 = x2 + v["curvature"] * (x1**2 - v["offset"])
  x = rotate2d(jnp.stack([x1, x2], axis=-1), v["angle"])
  return x + jnp.asarray(v["shift"], jnp.float32)


def _check_invariance(invariance: str) -> None:
  if invariance not in INVARIANCES:
    raise ValueError(f"invariance must be one of {INVARIANCES}, got {invariance!r}")


def maximal_invariant(x: jax.Array, invariance: str) -> jax.Array:
  """``M(x)`` with a trailing axis of size 1: the norm (rotation), x₂ (x-translation) or x₁
  (y-translation)."""
  _check_invariance(invariance)
  if invariance == "rotation":
    return jnp.linalg.norm(x, axis=-1, keepdims=True)
  if invariance == "x_translation":
    return x[..., 1:2]
  return x[..., 0:1]


def representative(x: jax.Array, invariance: str) -> jax.Array:
  """Canonical element of the orbit of ``x`` in input space (VIC's target), shape ``(..., 2)``."""
  m = maximal_invariant(x, invariance)[..., 0]
  zero = jnp.zeros_like(m)
  if invariance == "rotation":
    a = math.radians(_REP_ANGLE_DEG)
    return jnp.stack([m * math.cos(a), m * math.sin(a)], axis=-1)
  if invariance == "x_translation":
    return jnp.stack([zero, m], axis=-1)
  return jnp.stack([m, zero], axis=-1)


@functools.lru_cache(maxsize=None)
def translation_range(axis: int, variant: str = "code", quantiles: tuple[float, float] = (0.1, 0.9),
                      num_samples: int = 1_000_000) -> tuple[float, float]:
  """Quantiles of coordinate ``axis`` (0 = x₁, 1 = x₂) of the source, from a fixed-key sample."""
  x = np.asarray(sample_banana(jax.random.key(0), num_samples, variant=variant))[:, axis]
  lo, hi = np.quantile(x, quantiles)
  return float(lo), float(hi)


def augment(key: jax.Array, x: jax.Array, invariance: str, *, variant: str = "code",
            translation_bounds: tuple[float, float] | None = None) -> jax.Array:
  """Random group action on a batch ``(n, 2)`` (one independent draw per point).

  ``translation_bounds`` overrides the default ``translation_range`` (q10, q90) of the translated
  coordinate.
  """
  _check_invariance(invariance)
  if x.ndim != 2 or x.shape[-1] != 2:
    raise ValueError(f"x must be (n, 2), got shape {tuple(x.shape)}")
  n = x.shape[0]
  if invariance == "rotation":
    angles = jax.random.uniform(key, (n,), jnp.float32, 0.0, 360.0)
    return jax.vmap(rotate2d)(x, angles)
  axis = 0 if invariance == "x_translation" else 1
  lo, hi = translation_bounds if translation_bounds is not None else translation_range(axis, variant)
  t = jax.random.uniform(key, (n,), jnp.float32, lo, hi)
  return x.at[:, axis].set(t)


def mesh_grid(n: int = 500, lim: float = 5.0) -> jax.Array:
  """``n²`` points on a regular grid over ``[-lim, lim]²`` (the paper's quantisation plots)."""
  g = jnp.linspace(-lim, lim, n, dtype=jnp.float32)
  xx, yy = jnp.meshgrid(g, g, indexing="xy")
  return jnp.stack([xx.ravel(), yy.ravel()], axis=-1)


def sample_batch(key: jax.Array, n: int, invariance: str, *, variant: str = "code") -> dict:
  """One training batch: ``{"x", "x_aug", "x_pos", "representative", "max_inv"}``, shapes
  ``(n, 2)`` except ``max_inv`` ``(n, 1)``. ``x_aug = A(x)`` and ``x_pos = A(representative(x))``
  are independent draws from the orbit of ``x`` (two views for BINCE)."""
  k_x, k_aug, k_pos = jax.random.split(key, 3)
  x = sample_banana(k_x, n, variant=variant)
  rep = representative(x, invariance)
  return {
      "x": x,
      "x_aug": augment(k_aug, x, invariance, variant=variant),
      "x_pos": augment(k_pos, rep, invariance, variant=variant),
      "representative": rep,
      "max_inv": maximal_invariant(x, invariance),
  }


@functools.lru_cache(maxsize=None)
def _sampler(n: int, variant: str):
  return jax.jit(lambda key: sample_banana(key, n, variant=variant))


def sample_source(rng: np.random.Generator, n: int, data_config) -> dict:
  """The ``banana`` data source: ``n`` fresh points ``{"x": (n, 2)}`` keyed from ``rng``
  (``data.options.variant``: ``code`` (default) or ``paper``)."""
  key = jax.random.PRNGKey(int(rng.integers(2**31 - 1)))
  variant = str(data_config.options.get("variant", "code"))
  return {"x": np.asarray(_sampler(int(n), variant)(key))}

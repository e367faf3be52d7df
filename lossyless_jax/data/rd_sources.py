"""Synthetic sources with known rate–distortion functions (NERD experiments, paper §IV).

Pure samplers: each takes either a ``jax.random`` key (returns a ``jnp`` array, float32) or a
``numpy.random.Generator`` (returns a NumPy float64 array), plus the sample count. No global RNG.

* Gaussian, m = 20 / 40, with the authors' *code* variances σ_k² = 4 e^{−2rk}, k = 0..m−1
  (r = 0.25 → 4e^{−k/2} for m = 20; r = 0.5 → 4e^{−k} for m = 40; the paper's printed variances
  are misprints), optionally rotated by U = ortho_group(m) drawn with
  ``RandomState(233423)`` (the authors' ``np.random.seed(233423)``): X = U diag(σ) ε.
* Laplace(α) (density α/2 e^{−α|x|}), i.i.d. coordinates, for absolute-error distortion.
* Bernoulli(p), i.i.d. coordinates in {0, 1}, for (relaxed) Hamming distortion.

:class:`RDSource` bundles a sampler with the parameters the closed forms in
``evaluation/theory.py`` need (``variances``, ``alpha``, ``p``) and the distortion name.
The digits source is provided elsewhere (``data`` / scikit-learn digits).
"""
from __future__ import annotations

import dataclasses
from typing import Optional

import jax
import jax.numpy as jnp
import numpy as np
from scipy.stats import ortho_group

__all__ = [
    "AUTHORS_ROTATION_SEED",
    "SOURCE_NAMES",
    "gaussian_variances",
    "random_rotation",
    "sample_gaussian",
    "sample_laplace",
    "sample_bernoulli",
    "RDSource",
    "gaussian_source",
    "laplace_source",
    "bernoulli_source",
    "get_source",
    "fixed_dataset",
]

AUTHORS_ROTATION_SEED = 233423
AUTHORS_RATE = {20: 0.25, 40: 0.5}  # r in σ_k² = 4 e^{-2 r k}
SOURCE_NAMES = ("gaussian20", "gaussian40", "gaussian20_diag", "gaussian40_diag", "gaussian1", "laplace",
                "bernoulli")  # accepted by get_source


def _is_numpy_rng(rng) -> bool:
  return isinstance(rng, np.random.Generator)


def _check_rng(rng, who):
  if _is_numpy_rng(rng):
    return
  if isinstance(rng, (int, np.integer, np.random.RandomState)) or rng is None:
    raise TypeError(f"{who}: rng must be a jax.random key or a numpy.random.Generator "
                    f"(e.g. np.random.default_rng(seed)), got {type(rng).__name__}")


def gaussian_variances(m: int, r: Optional[float] = None):
  """σ_k² = 4 e^{−2 r k}, k = 0..m−1 (authors' code, ``sigmas = 2 exp(−r k)``); r defaults to the
  authors' value for m = 20 (0.25) or m = 40 (0.5)."""
  if r is None:
    if m not in AUTHORS_RATE:
      raise ValueError(f"gaussian_variances: no authors' decay rate for m={m}; pass r explicitly (m=20: 0.25, m=40: 0.5)")
    r = AUTHORS_RATE[m]
  k = np.arange(m, dtype=np.float64)
  return 4.0 * np.exp(-2.0 * r * k)


def random_rotation(m: int, seed: int = AUTHORS_ROTATION_SEED):
  """Haar-random orthogonal m×m matrix; with the default seed it is the authors' U
  (``np.random.seed(233423); ortho_group.rvs(m)``)."""
  return ortho_group.rvs(m, random_state=np.random.RandomState(seed))


def sample_gaussian(rng, num: int, variances, rotation=None):
  """X = (U) diag(σ) ε, ε ~ N(0, I): shape (num, m); ``rotation`` U (m×m) or None (diagonal)."""
  _check_rng(rng, "sample_gaussian")
  std = np.sqrt(np.asarray(variances, np.float64))
  m = std.size
  if rotation is not None and np.shape(rotation) != (m, m):
    raise ValueError(f"sample_gaussian: rotation must be ({m}, {m}), got {np.shape(rotation)}")
  if _is_numpy_rng(rng):
    x = rng.standard_normal((num, m)) * std
    return x @ np.asarray(rotation).T if rotation is not None else x
  x = jax.random.normal(rng, (num, m), jnp.float32) * jnp.asarray(std, jnp.float32)
  return x @ jnp.asarray(rotation, jnp.float32).T if rotation is not None else x


def sample_laplace(rng, num: int, alpha: float = 1.0, dim: int = 1):
  """i.i.d. Laplace(α) coordinates (density α/2 e^{−α|x|}, E|X| = 1/α), shape (num, dim)."""
  _check_rng(rng, "sample_laplace")
  if alpha <= 0:
    raise ValueError(f"sample_laplace: alpha must be > 0, got {alpha}")
  if _is_numpy_rng(rng):
    return rng.laplace(0.0, 1.0 / alpha, (num, dim))
  return jax.random.laplace(rng, (num, dim), jnp.float32) / alpha


def sample_bernoulli(rng, num: int, p: float = 0.3, dim: int = 1):
  """i.i.d. Bernoulli(p) coordinates as floats in {0., 1.}, shape (num, dim)."""
  _check_rng(rng, "sample_bernoulli")
  if not 0.0 < p < 1.0:
    raise ValueError(f"sample_bernoulli: p must be in (0, 1), got {p}")
  if _is_numpy_rng(rng):
    return (rng.random((num, dim)) < p).astype(np.float64)
  return jax.random.bernoulli(rng, p, (num, dim)).astype(jnp.float32)


@dataclasses.dataclass(frozen=True)
class RDSource:
  """A source with a closed-form R(D): ``sample(rng, num)`` plus the closed-form parameters.

  Attributes:
    name: registry name.
    dim: dimension m of one sample.
    distortion: name of the matching distortion in ``losses.distortions``.
    kind: ``"gaussian"``, ``"laplace"`` or ``"bernoulli"`` (selects the closed form in theory.py).
    variances: σ_k² (Gaussian; eigenvalues of the covariance), else None.
    rotation: U (rotated Gaussian) or None.
    alpha: Laplace rate α, else None.
    p: Bernoulli parameter, else None.
  """
  name: str
  dim: int
  distortion: str
  kind: str
  variances: Optional[np.ndarray] = None
  rotation: Optional[np.ndarray] = None
  alpha: Optional[float] = None
  p: Optional[float] = None

  def sample(self, rng, num: int):
    if self.kind == "gaussian":
      return sample_gaussian(rng, num, self.variances, self.rotation)
    if self.kind == "laplace":
      return sample_laplace(rng, num, self.alpha, self.dim)
    if self.kind == "bernoulli":
      return sample_bernoulli(rng, num, self.p, self.dim)
    raise ValueError(f"unknown source kind {self.kind!r}")

  @property
  def covariance(self):
    if self.kind != "gaussian":
      raise ValueError(f"source {self.name!r} is not Gaussian")
    u = np.eye(self.dim) if self.rotation is None else self.rotation
    return u @ np.diag(self.variances) @ u.T

  @property
  def d_max(self) -> float:
    """Zero-rate distortion (per sample, summed over coordinates)."""
    if self.kind == "gaussian":
      return float(np.sum(self.variances))
    if self.kind == "laplace":
      return self.dim / self.alpha
    return self.dim * min(self.p, 1.0 - self.p)


def gaussian_source(m: int = 20, r: Optional[float] = None, rotated: bool = True,
                    rotation_seed: int = AUTHORS_ROTATION_SEED, variances=None) -> RDSource:
  """Gaussian source N(0, U diag σ² Uᵀ); authors' settings by default (m = 20 → 4e^{−k/2}, rotated).

  ``variances`` overrides the authors' profile (e.g. (4, 1, 0.25) for the water-filling kink test).
  """
  var = gaussian_variances(m, r) if variances is None else np.asarray(variances, np.float64)
  m = var.size
  rot = random_rotation(m, rotation_seed) if rotated else None
  tag = "rot" if rotated else "diag"
  return RDSource(name=f"gaussian{m}_{tag}", dim=m, distortion="squared_error", kind="gaussian",
                  variances=var, rotation=rot)


def laplace_source(alpha: float = 1.0, dim: int = 1) -> RDSource:
  return RDSource(name=f"laplace{dim}", dim=dim, distortion="l1", kind="laplace", alpha=float(alpha))


def bernoulli_source(p: float = 0.3, dim: int = 1) -> RDSource:
  return RDSource(name=f"bernoulli{dim}", dim=dim, distortion="hamming_relaxed", kind="bernoulli", p=float(p))


SOURCE_NAMES = ("gaussian20", "gaussian40", "gaussian20_diag", "gaussian40_diag", "gaussian1", "laplace", "bernoulli")


def get_source(name: str, **kwargs) -> RDSource:
  """``"gaussian20"`` (rotated, 4e^{−k/2}), ``"gaussian40"`` (rotated, 4e^{−k}),
  ``"gaussian20_diag"``, ``"gaussian40_diag"``, ``"gaussian1"`` (scalar, σ² = 1), ``"laplace"``,
  ``"bernoulli"``; keyword arguments go to the constructor."""
  if name in ("gaussian20", "gaussian40"):
    return gaussian_source(int(name[-2:]), **kwargs)
  if name in ("gaussian20_diag", "gaussian40_diag"):
    return gaussian_source(int(name[8:10]), rotated=False, **kwargs)
  if name == "gaussian1":
    return gaussian_source(variances=kwargs.pop("variances", [1.0]), rotated=False, **kwargs)
  if name == "laplace":
    return laplace_source(**kwargs)
  if name == "bernoulli":
    return bernoulli_source(**kwargs)
  raise ValueError(f"unknown rate-distortion source {name!r}; expected gaussian20, gaussian40, "
                   "gaussian20_diag, gaussian40_diag, gaussian1, laplace or bernoulli")


def fixed_dataset(source: RDSource, num: int, seed: int = 0):
  """A fixed finite sample (NumPy float32) of ``num`` points, e.g. the authors' 50,000 Gaussian points."""
  return np.asarray(source.sample(np.random.default_rng(seed), num), np.float32)

"""The synthetic discrete source of the Gray-Wyner experiments (Gray-Wyner paper §4.1, App. D.3).

Source. ``X ∈ {−4..4}^{2×64×64}``; channel 0 is ``X1`` and channel 1 is ``X2``. Its 8192 elements
(flat index ``c·64·64 + h·64 + w``) are split once, by a stored *dependency map*, into

* **pairs** ``(f, s)`` (probability 4/5 per step of the walk below): ``(X_f, X_s)`` is one draw
  of the 9×9 pair PMF ``P[a, b]`` (``X_f`` the row coordinate, ``X_s`` the column one), so the two
  elements are near-copies; a pair may lie inside one channel or straddle both;
* **singles** (probability 1/5): an element that follows the row marginal ``Σ_b P[a, b]`` alone.

Groups are independent of each other, so every entropy below is exact.

Construction (App. D.3), all from ``seed`` = 110069:

1. Pair PMF: 100 000 draws of a bivariate normal with variance 4 and correlation ρ = 1, shifted by
   +4, rounded and clipped to ``{0..8}``; counts start at 1 (add-one smoothing), then normalise.
   Drawn with ``numpy.random.default_rng(seed)``.
2. Dependency map: shuffle the element indices, then walk them; at each step, with probability
   4/5 (one uniform draw, skipped at the last index) the next two indices form a pair, otherwise
   the next index is a single. Drawn with Python's Mersenne Twister ``random.Random(seed)``
   (``shuffle``, then ``uniform(0, 1)`` per step), the procedure and generator of the authors'
   release, so the map is the paper's. In a pair the higher index is the row coordinate ``f``.
3. Targets ``Z_i = A_i vec(X_i)`` (row-major ``vec``, normalised values), with
   ``A_i = expm(N − (tr N / n) I)``: ``N`` is ``0.001·𝒩(0, 1)`` noise clipped to ±0.01 whose
   diagonal is replaced by its absolute row sums (diagonally dominant). ``det A_i = e^0 = 1`` and
   ``A_i^{-1} = expm(−(N − (tr N / n) I))``, so the targets are bijective
   (``expm(N)·e^{−tr N / n}`` is the same matrix). ``A_1`` and ``A_2`` use the generators
   ``default_rng([seed, 1])`` and ``default_rng([seed, 2])``. At 64×64 each is a 4096×4096
   ``expm`` (about 25 s on 2 CPU cores), computed once per process on first use; pass
   ``targets=False`` to sample without them.
4. Values are normalised as ``(v − 4)/4 ∈ [−1, 1]``; samples are drawn on the fly (an infinite
   stream).

Information (§4.1): ``H(X1, X2) = 3.3``, ``H(X1) + H(X2) = 4.62``, ``I(X1; X2) = 1.32`` bits per
64×64 location; :func:`entropies` computes them exactly from the stored map and PMF.

Not reproduced: the released sampler also overwrites the last element of every sample with the
column coordinate of some single's draw (an indexing side effect); it shifts the entropies by
< 0.001 bit per location and is not part of the source the paper describes.
"""
from __future__ import annotations

import dataclasses
import functools
import random
from typing import NamedTuple

import numpy as np
import scipy.linalg

from lossyless_jax.data import pipeline

__all__ = [
    "SEED",
    "SHAPE",
    "NUM_SYMBOLS",
    "OFFSET",
    "Entropies",
    "pair_pmf",
    "dependency_map",
    "det_one_transform",
    "entropy_bits",
    "GrayWynerSynthetic",
    "default_source",
    "entropies",
    "sample",
    "sample_source",
    "source_of_side",
    "stream",
]

SEED = 110069
SHAPE = (64, 64)
NUM_SYMBOLS = 9  # symbols −4..4, stored as v = symbol + OFFSET ∈ {0..8}
OFFSET = (NUM_SYMBOLS - 1) // 2


class Entropies(NamedTuple):
  """Exact information of the source in bits per location (per 64×64 position, both channels)."""
  joint: float               # H(X1, X2)
  marginal_sum: float        # H(X1) + H(X2)
  mutual_information: float  # I(X1; X2)


def entropy_bits(pmf) -> float:
  """Shannon entropy in bits of a PMF of any shape (0 log 0 = 0)."""
  p = np.asarray(pmf, np.float64).ravel()
  p = p[p > 0]
  return float(-(p * np.log2(p)).sum())


def pair_pmf(seed: int = SEED, *, rho: float = 1.0, num_samples: int = 100_000,
             num_symbols: int = NUM_SYMBOLS) -> np.ndarray:
  """The (m, m) pair PMF: add-one-smoothed counts of a rounded bivariate normal (App. D.3).

  Each draw is ``(a, b) = σ·(z1, ρ z1 + √(1 − ρ²) z2) + (m−1)/2``, ``σ² = (m−1)/2``, rounded
  and clipped to ``{0..m−1}``; with ρ = 1 the two coordinates are equal.
  """
  if not -1.0 <= rho <= 1.0:
    raise ValueError(f"rho must lie in [-1, 1], got {rho}")
  half = (num_symbols - 1) / 2
  z = np.random.default_rng(seed).standard_normal((num_samples, 2))
  sigma = np.sqrt(half)
  a = sigma * z[:, 0]
  b = sigma * (rho * z[:, 0] + np.sqrt(max(1.0 - rho * rho, 0.0)) * z[:, 1])
  ia = np.clip(np.round(a + half), 0, num_symbols - 1).astype(np.int64)
  ib = np.clip(np.round(b + half), 0, num_symbols - 1).astype(np.int64)
  counts = np.ones((num_symbols, num_symbols))
  np.add.at(counts, (ia, ib), 1.0)
  return counts / counts.sum()


def dependency_map(num_elements: int, seed: int = SEED, *, independent_probability: float = 0.2) -> np.ndarray:
  """``partner[i]``: the element paired with ``i``, or −1 for a single (App. D.3, step 2).

  Python's ``random.Random(seed)``: ``shuffle`` the indices, then walk them, pairing the next two
  when ``uniform(0, 1) > independent_probability`` (no draw at the last index).
  """
  rng = random.Random(seed)
  order = list(range(num_elements))
  rng.shuffle(order)
  partner = np.full(num_elements, -1, np.int64)
  i = 0
  while i < num_elements:
    if i < num_elements - 1 and rng.uniform(0, 1) > independent_probability:
      a, b = order[i], order[i + 1]
      partner[a], partner[b] = b, a
      i += 2
    else:
      i += 1
  return partner


def det_one_transform(n: int, rng: np.random.Generator, *, scale: float = 0.001, clip: float = 0.01) -> np.ndarray:
  """A random (n, n) float64 matrix with determinant 1 (App. D.3): ``expm(N − (tr N / n) I)``,
  ``N`` clipped ``scale``·𝒩(0, 1) noise with its diagonal replaced by the absolute row sums."""
  noise = np.clip(scale * rng.standard_normal((n, n)), -clip, clip)
  diag = np.abs(noise).sum(axis=1)
  m = noise
  idx = np.arange(n)
  m[idx, idx] = diag - diag.mean()
  return scipy.linalg.expm(m)


@dataclasses.dataclass(frozen=True)
class GrayWynerSynthetic:
  """The synthetic source; every derived quantity is computed once and cached (§4.1, App. D.3).

  ``shape`` other than 64×64 gives a smaller source with the same construction (its own map).
  """
  shape: tuple = SHAPE
  seed: int = SEED
  rho: float = 1.0
  independent_probability: float = 0.2
  pmf_samples: int = 100_000
  transform_scale: float = 0.001
  transform_clip: float = 0.01

  # -- structure ------------------------------------------------------------------------------
  @property
  def num_locations(self) -> int:
    return int(self.shape[0] * self.shape[1])

  @property
  def num_elements(self) -> int:
    return 2 * self.num_locations

  @functools.cached_property
  def partner(self) -> np.ndarray:
    """The dependency map: ``partner[i]`` pairs with ``i``; −1 marks a single."""
    p = dependency_map(self.num_elements, self.seed, independent_probability=self.independent_probability)
    p.setflags(write=False)
    return p

  @functools.cached_property
  def pairs(self) -> np.ndarray:
    """(P, 2) int64 ``(f, s)``: ``f`` (the higher index) is the PMF row, ``s`` the column."""
    i = np.flatnonzero(self.partner > np.arange(self.num_elements))  # lower index of each pair
    out = np.stack([self.partner[i], i], axis=1)
    out.setflags(write=False)
    return out

  @functools.cached_property
  def singles(self) -> np.ndarray:
    out = np.flatnonzero(self.partner < 0)
    out.setflags(write=False)
    return out

  @property
  def num_cross_pairs(self) -> int:
    """Pairs with one element in each channel (these carry I(X1; X2))."""
    n = self.num_locations
    return int(np.sum((self.pairs[:, 0] >= n) != (self.pairs[:, 1] >= n)))

  # -- distributions ----------------------------------------------------------------------------
  @functools.cached_property
  def pair_pmf(self) -> np.ndarray:
    """(9, 9) PMF of a pair ``(X_f, X_s)`` over stored values ``v = symbol + 4``."""
    p = pair_pmf(self.seed, rho=self.rho, num_samples=self.pmf_samples)
    p.setflags(write=False)
    return p

  @property
  def row_marginal(self) -> np.ndarray:
    """Law of a single and of a pair's row coordinate ``X_f``."""
    return self.pair_pmf.sum(axis=1)

  @property
  def column_marginal(self) -> np.ndarray:
    """Law of a pair's column coordinate ``X_s``."""
    return self.pair_pmf.sum(axis=0)

  def element_marginals(self) -> np.ndarray:
    """(num_elements, 9): the exact marginal PMF of every element."""
    out = np.broadcast_to(self.row_marginal, (self.num_elements, NUM_SYMBOLS)).copy()
    out[self.pairs[:, 1]] = self.column_marginal
    return out

  def location_pmf(self, h: int, w: int) -> np.ndarray:
    """(9, 9) exact joint PMF of ``(X1[h, w], X2[h, w])`` (rows: X1), over ``v = symbol + 4``."""
    i = int(h) * int(self.shape[1]) + int(w)
    j = i + self.num_locations
    if self.partner[i] == j:  # j > i is the row coordinate of the pair
      return self.pair_pmf.T.copy()
    marg = self.element_marginals()
    return np.outer(marg[i], marg[j])

  def aggregate(self, single: float, first: float, second: float, pair: float) -> tuple[float, float]:
    """Per-location totals of additive per-group quantities through the dependency map.

    ``single``: value of a single; ``first`` / ``second``: value of a pair's row / column element
    taken alone; ``pair``: value of a pair taken jointly. Returns ``(joint, marginal_sum)``:
    ``joint`` treats every pair jointly; ``marginal_sum`` treats a cross-channel pair as two
    separate elements (one per channel) and a within-channel pair jointly.
    """
    n_single, n_pair, n_cross = len(self.singles), len(self.pairs), self.num_cross_pairs
    joint = (n_single * single + n_pair * pair) / self.num_locations
    marginal = (n_single * single + n_cross * (first + second) + (n_pair - n_cross) * pair) / self.num_locations
    return float(joint), float(marginal)

  def entropies(self) -> Entropies:
    """Exact ``H(X1, X2)``, ``H(X1) + H(X2)``, ``I(X1; X2)`` in bits per location (§4.1)."""
    h_row, h_col = entropy_bits(self.row_marginal), entropy_bits(self.column_marginal)
    joint, marginal = self.aggregate(h_row, h_row, h_col, entropy_bits(self.pair_pmf))
    return Entropies(joint, marginal, marginal - joint)

  # -- targets ----------------------------------------------------------------------------------
  @functools.cached_property
  def transforms(self) -> tuple[np.ndarray, np.ndarray]:
    """``(A1, A2)``, float64 (n, n) with n = H·W and determinant 1 (App. D.3)."""
    out = []
    for k in (1, 2):
      a = det_one_transform(self.num_locations, np.random.default_rng([self.seed, k]),
                            scale=self.transform_scale, clip=self.transform_clip)
      a.setflags(write=False)
      out.append(a)
    return tuple(out)

  # -- sampling ---------------------------------------------------------------------------------
  def sample_values(self, rng: np.random.Generator, num: int) -> np.ndarray:
    """(num, num_elements) int8 stored values ``v ∈ {0..8}`` (flat element order)."""
    if not isinstance(rng, np.random.Generator):
      raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    num = int(num)
    values = np.empty((num, self.num_elements), np.int8)
    values[:, self.singles] = _inverse_cdf(self.row_marginal, rng.random((num, len(self.singles))))
    cells = _inverse_cdf(self.pair_pmf.ravel(), rng.random((num, len(self.pairs))))
    values[:, self.pairs[:, 0]] = cells // NUM_SYMBOLS
    values[:, self.pairs[:, 1]] = cells % NUM_SYMBOLS
    return values

  def sample(self, rng: np.random.Generator, num: int, *, targets: bool = True) -> dict:
    """A batch: ``x`` (num, H, W, 2) float32 in [−1, 1] (NHWC, channel 0 = X1), ``symbols``
    (num, H, W, 2) int8 in {−4..4}, and with ``targets`` the regression targets ``z1``, ``z2``
    (num, H, W) float32."""
    h, w = self.shape
    n = self.num_locations
    values = self.sample_values(rng, num)
    symbols = (values - OFFSET).astype(np.int8)
    flat = symbols.astype(np.float32) / OFFSET  # (v − 4)/4
    out = {
        "x": np.stack([flat[:, :n].reshape(-1, h, w), flat[:, n:].reshape(-1, h, w)], axis=-1),
        "symbols": np.stack([symbols[:, :n].reshape(-1, h, w), symbols[:, n:].reshape(-1, h, w)], axis=-1),
    }
    if targets:
      a1, a2 = self.transforms
      out["z1"] = (flat[:, :n].astype(np.float64) @ a1.T).astype(np.float32).reshape(-1, h, w)
      out["z2"] = (flat[:, n:].astype(np.float64) @ a2.T).astype(np.float32).reshape(-1, h, w)
    return out


def _inverse_cdf(pmf: np.ndarray, u: np.ndarray) -> np.ndarray:
  cdf = np.cumsum(pmf)
  cdf /= cdf[-1]
  return np.minimum(np.searchsorted(cdf, u, side="right"), len(pmf) - 1).astype(np.int16)


@functools.lru_cache(maxsize=None)
def default_source() -> GrayWynerSynthetic:
  """The paper's source: 2×64×64, seed 110069 (one cached instance per process)."""
  return GrayWynerSynthetic()


def entropies() -> Entropies:
  """Exact ``(H(X1, X2), H(X1) + H(X2), I(X1; X2))`` of the paper's source, bits per location."""
  return default_source().entropies()


def sample(rng: np.random.Generator, num: int, *, targets: bool = True) -> dict:
  """A batch of the paper's source (see :meth:`GrayWynerSynthetic.sample`)."""
  return default_source().sample(rng, num, targets=targets)


@functools.lru_cache(maxsize=None)
def source_of_side(side: int) -> GrayWynerSynthetic:
  """The source at ``side × side`` (64: the paper's, :func:`default_source`); one instance per side."""
  side = int(side)
  if side < 1:
    raise ValueError(f"side must be a positive integer, got {side}")
  return default_source() if (side, side) == SHAPE else GrayWynerSynthetic(shape=(side, side))


def sample_source(rng: np.random.Generator, num: int, data_config=None) -> dict:
  """``(rng, n, data_config) -> dict`` sampler for the data registry; ``options.targets``
  (default True) switches the targets off; ``options.side`` (default 64, the paper's) picks a
  smaller ``side × side`` source with the same construction (e.g. 32 for CPU runs: its 1024×1024
  ``expm`` takes well under a second)."""
  options = getattr(data_config, "options", None) or {}
  src = source_of_side(int(options.get("side", SHAPE[0])))
  return src.sample(rng, num, targets=bool(options.get("targets", True)))


def stream(batch_size: int, seed: int = 0, *, targets: bool = True) -> pipeline.SampledTrainIterator:
  """Infinite, resumable stream: batch ``i`` is drawn from ``default_rng([seed, i])``."""
  return pipeline.SampledTrainIterator(lambda rng, n: sample(rng, n, targets=targets), batch_size, seed, 0, 1)

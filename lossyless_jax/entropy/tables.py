"""Quantized coding tables, built once on the CPU in float64 and stored with the model.

A *table* is a categorical distribution over ``L`` consecutive integers
``kmin, ..., kmin + L - 1`` plus one **escape** symbol (index ``L``) for every integer outside
them (CompressAI's overflow idea; the escaped value is then coded separately, see
``range_coder``). Its probabilities are integer counts ``>= 1`` summing to ``2**24`` (the
fixed-point precision of ``constriction``'s categorical models); ``range_coder`` hands them to
``constriction`` in a form it reproduces exactly, so the code lengths are
``-log2(count / 2**24)``.

Counts come from float64 probabilities by :func:`quantize_pmf`: ``1 + floor(p_i · F / Σp)``
with ``F = 2**24 - n`` free weight, the remainder going to the largest fractional parts
(ties by index). It uses only exactly-rounded IEEE operations (``math.fsum``, ×, floor,
stable sort), so the same input gives the same counts on any machine; this matters for
``encode_categorical``, whose tables are rebuilt from the pmf at both ends.

``build_tables(params)`` turns a trained rate model's parameters into the coding tables:

- factorized prior (``EntropyBottleneck``): one table per channel on the support
  ``median + [-ceil(median - q_lo), ceil(q_hi - median)]`` given by the learned quantiles,
  escape mass = both tails (Ballé et al. 2018; CompressAI ``update()``);
- hyperprior (``VectorHyperprior``): the side density's tables as above, one Gaussian table
  per entry of the scale table (support ``±ceil(σ · Φ⁻¹(1 - tail/2))``, escape = both tails),
  the KL-optimal scale boundaries and their integer form, and ``h_s`` exported as an integer
  network (``integer_net``; decoding needs nothing else);
- ``AffinePrecision`` around either: a copy of ``scaling`` / ``biasing`` and ``exp(scaling)``
  (float32, computed once here, so decoders never evaluate ``exp``).

``TABLES_VERSION`` (stored as ``version``) changes whenever the decoder-side content changes;
coders refuse tables of another version with :class:`StaleTablesError`.

The tables dict holds only arrays (Orbax-friendly) and a ``fingerprint``: the first 16 bytes
of SHA-256 over a canonical serialisation of everything else. Files carry it, so a decoder
with different tables refuses the file instead of decoding garbage.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any, Mapping

import jax
import numpy as np
import scipy.special as sps

from lossyless_jax import errors
from lossyless_jax.entropy import factorized as fz
from lossyless_jax.entropy import integer_net as inet
from lossyless_jax.entropy.gaussian import (
  SCALE_BOUND,
  gaussian_bin_probabilities,
  make_scale_table,
  scale_boundaries,
)

__all__ = [
  "PRECISION",
  "MAX_TABLE_LENGTH",
  "KIND_FACTORIZED",
  "KIND_HYPERPRIOR",
  "KIND_CONTEXT",
  "TABLES_VERSION",
  "StaleTablesError",
  "check_version",
  "quantize_pmf",
  "categorical_table",
  "build_factorized_tables",
  "build_gaussian_tables",
  "build_tables",
  "describe_params",
  "fingerprint",
  "verify_fingerprint",
  "check_tables_match_params",
]

PRECISION = 24  # constriction's categorical models are 24-bit
MAX_TABLE_LENGTH = 1 << 20  # regular symbols per table; the rest goes through the escape
KIND_FACTORIZED = 1
KIND_HYPERPRIOR = 2
KIND_CONTEXT = 3  # ``context.export``
TABLES_VERSION = 2  # 1: float h_s, no exp(scaling)
_FINGERPRINT = "fingerprint"


class StaleTablesError(errors.InputError):
  """The coding tables do not belong to these parameters (rebuild them with ``build_tables``)."""


def quantize_pmf(probs: np.ndarray, precision: int = PRECISION) -> np.ndarray:
  """Integer counts ``>= 1`` summing to ``2**precision``, proportional to ``probs``.

  Deterministic across machines (exactly-rounded operations only). ``probs`` need not be
  normalised; it must be finite, non-negative and have a positive sum.
  """
  p = np.asarray(probs, dtype=np.float64)
  if p.ndim != 1 or p.size < 2:
    raise ValueError(f"need a 1-D array of >= 2 probabilities, got shape {p.shape}")
  total = 1 << precision
  free = total - p.size
  if free <= 0:
    raise ValueError(f"{p.size} entries do not fit in {precision}-bit counts")
  if not np.all(np.isfinite(p)) or np.any(p < 0):
    raise ValueError("probabilities must be finite and non-negative")
  mass = math.fsum(p.tolist())
  if not mass > 0:
    raise ValueError("probabilities sum to zero")
  w = p * (free / mass)
  base = np.floor(w)
  rem = free - int(base.astype(np.int64).sum())
  rem = min(max(rem, 0), p.size)
  if rem:
    order = np.argsort(-(w - base), kind="stable")
    base[order[:rem]] += 1.0
  counts = base.astype(np.int64) + 1
  # Guard against pathological rounding: fix the total on the largest entry.
  counts[int(np.argmax(counts))] += total - int(counts.sum())
  if counts.min() < 1:
    raise ValueError("pmf quantization failed (non-positive count)")
  return counts.astype(np.uint32)


def categorical_table(pmf: np.ndarray, precision: int = PRECISION) -> tuple[np.ndarray, int]:
  """Counts (regular symbols then escape) for a pmf over ``{0, ..., K-1}``.

  Returns ``(counts, L)``: the table keeps the first ``L <= K`` symbols (trailing symbols with
  ``p < 2**-precision`` and anything past ``MAX_TABLE_LENGTH`` are left to the escape, which
  codes them exactly at a few extra bits). The escape gets the mass not in the table:
  ``max(Σpmf, 1) - Σ_{i<L} pmf_i`` (so a pmf summing to less than one leaves its remainder
  to the symbols ``>= K``), and at least one count.
  """
  p = np.asarray(pmf, dtype=np.float64)
  if p.ndim != 1 or p.size < 1:
    raise ValueError(f"pmf must be a non-empty 1-D array, got shape {p.shape}")
  if not np.all(np.isfinite(p)) or np.any(p < 0):
    raise ValueError("pmf must be finite and non-negative")
  big = np.flatnonzero(p >= 2.0**-precision)
  length = int(big[-1]) + 1 if big.size else 1
  length = min(length, MAX_TABLE_LENGTH)
  total = max(math.fsum(p.tolist()), 1.0)
  kept = math.fsum(p[:length].tolist())
  escape = max(total - kept, 0.0)
  probs = np.concatenate([p[:length], [escape]])
  if not math.fsum(probs.tolist()) > 0:
    probs[:length] = 1.0  # all-zero pmf: fall back to uniform
  return quantize_pmf(probs, precision), length


def _ragged(tables: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
  starts = np.zeros(len(tables) + 1, np.int64)
  starts[1:] = np.cumsum([t.size for t in tables])
  return np.concatenate(tables).astype(np.uint32), starts


def _np_params(params: Mapping[str, Any]) -> dict[str, np.ndarray]:
  return {k: np.asarray(v, np.float64) for k, v in params.items()}


def build_factorized_tables(
  params: Mapping[str, Any], tail_mass: float = 1e-9, precision: int = PRECISION
) -> dict[str, np.ndarray]:
  """Per-channel tables of a factorized density (params of ``EntropyBottleneck``).

  Returns ``counts`` (ragged, uint32), ``starts`` (C+1,), ``kmin`` (C,) int64 (first symbol
  relative to the median), ``medians`` (C,) float32 (the rounding offsets, exactly as in the
  module). ``tail_mass`` is not used (the quantiles already encode it); kept for symmetry.
  """
  del tail_mass
  p64 = _np_params(params)
  med32 = np.asarray(params[fz.QUANTILES], np.float32)[:, 1].copy()
  q = p64[fz.QUANTILES]
  channels = q.shape[0]
  half_max = (MAX_TABLE_LENGTH - 1) // 2
  counts, kmins = [], []
  for c in range(channels):
    pc = {k: v[c : c + 1] for k, v in p64.items()}
    med = float(med32[c])
    neg = int(min(max(math.ceil(med - q[c, 0]), 0), half_max))
    pos = int(min(max(math.ceil(q[c, 2] - med), 0), half_max))
    k = np.arange(-neg, pos + 1, dtype=np.float64)
    y = (med + k)[:, None]
    pmf = fz.bin_probabilities(pc, y, xp=np)[:, 0]
    edges = np.array([[med - neg - 0.5], [med + pos + 0.5]])
    logits = fz.logits_cumulative(pc, edges, xp=np)[:, 0]
    tails = fz._sigmoid(np.array([logits[0], -logits[1]]), np)
    escape = float(tails.sum())
    counts.append(quantize_pmf(np.concatenate([pmf, [escape]]), precision))
    kmins.append(-neg)
  flat, starts = _ragged(counts)
  return {"counts": flat, "starts": starts, "kmin": np.asarray(kmins, np.int64), "medians": med32}


def build_gaussian_tables(
  scale_table: np.ndarray | None = None,
  tail_mass: float = 1e-9,
  precision: int = PRECISION,
  scale_bound: float = SCALE_BOUND,
) -> dict[str, np.ndarray]:
  """One zero-mean table per scale in ``scale_table`` (default: CompressAI's 64 scales).

  Returns ``counts``, ``starts``, ``kmin``, ``scales`` (float64) and ``boundaries``
  (float64, the KL-optimal decision boundaries used to map predicted scales to tables).
  """
  table = make_scale_table() if scale_table is None else np.asarray(scale_table, np.float64)
  bounds = scale_boundaries(table)
  if table.size > 255:
    raise ValueError(f"at most 255 scales are supported, got {table.size}")
  multiplier = -float(sps.ndtri(tail_mass / 2.0))
  half_max = (MAX_TABLE_LENGTH - 1) // 2
  counts, kmins = [], []
  for s in table:
    n = int(min(math.ceil(max(s, scale_bound) * multiplier), half_max))
    k = np.arange(-n, n + 1, dtype=np.float64)
    pmf = gaussian_bin_probabilities(k, s, scale_bound=scale_bound, xp=np)
    edge = (n + 0.5) / max(s, scale_bound)
    escape = 2.0 * float(sps.ndtr(-edge))
    counts.append(quantize_pmf(np.concatenate([pmf, [escape]]), precision))
    kmins.append(-n)
  flat, starts = _ragged(counts)
  return {
    "counts": flat,
    "starts": starts,
    "kmin": np.asarray(kmins, np.int64),
    "scales": table.copy(),
    "boundaries": bounds,
    "scale_bound": np.asarray(scale_bound, np.float64),
  }


def describe_params(params: Mapping[str, Any]) -> tuple[int, bool, Mapping[str, Any]]:
  """``(kind, has_affine, inner_params)`` for the params of a supported rate model."""
  affine = isinstance(params, Mapping) and "scaling" in params and "rate_model" in params
  inner = params["rate_model"] if affine else params
  if isinstance(inner, Mapping) and "h_s" in inner and "side_density" in inner:
    return KIND_HYPERPRIOR, affine, inner
  if isinstance(inner, Mapping) and fz.QUANTILES in inner and "matrix_0" in inner:
    return KIND_FACTORIZED, affine, inner
  keys = sorted(inner) if isinstance(inner, Mapping) else type(inner).__name__
  raise ValueError(
    "params are not those of an EntropyBottleneck, a VectorHyperprior, or an "
    f"AffinePrecision around one (top-level keys: {keys})"
  )


def _affine_tables(scaling, biasing) -> dict[str, np.ndarray]:
  s = np.array(scaling, np.float32, copy=True)
  cpu = jax.devices("cpu")[0]
  with jax.default_device(cpu):  # XLA's exp, as in AffinePrecision on the CPU backend
    e = np.asarray(jax.jit(jax.numpy.exp)(jax.device_put(s, cpu)), np.float32)
  return {"scaling": s, "biasing": np.array(biasing, np.float32, copy=True), "exp_scaling": e}


def check_version(tables: Mapping[str, Any]) -> None:
  """Raise :class:`StaleTablesError` for tables of another ``TABLES_VERSION``."""
  version = int(np.asarray(tables.get("version", 1))) if isinstance(tables, Mapping) else 0
  if version != TABLES_VERSION:
    raise StaleTablesError(
      f"coding tables of version {version}, this coder reads version {TABLES_VERSION} (exported by "
      "an older lossyless_jax): re-export them (`python launch/codec.py export --workdir W`, or "
      "build_tables(params)) and re-encode files written with them"
    )


def build_tables(
  params: Mapping[str, Any],
  *,
  tail_mass: float = 1e-9,
  scale_table: np.ndarray | None = None,
  precision: int = PRECISION,
) -> dict[str, Any]:
  """Coding tables for a trained rate model, from its ``params`` (``variables["params"]``).

  Rebuild after every parameter update that should be reflected in the bitstreams; the
  coder checks (``check_tables_match_params``) that the tables match the params it is given.
  """
  if precision != PRECISION:
    raise ValueError(f"only precision={PRECISION} is supported by the constriction coder")
  kind, affine, inner = describe_params(params)
  tables: dict[str, Any] = {
    "kind": np.asarray(kind, np.int32),
    "precision": np.asarray(precision, np.int32),
    "version": np.asarray(TABLES_VERSION, np.int32),
  }
  if kind == KIND_FACTORIZED:
    tables["factorized"] = build_factorized_tables(inner, tail_mass, precision)
    dim = int(np.shape(inner[fz.QUANTILES])[0])
  else:
    tables["factorized"] = build_factorized_tables(inner["side_density"], tail_mass, precision)
    tables["gaussian"] = build_gaussian_tables(scale_table, tail_mass, precision)
    tables["gaussian"]["thresholds"] = inet.scale_thresholds(tables["gaussian"]["boundaries"])
    tables["h_s"] = inet.export_mlp(inner["h_s"])
    inet.IntMLP(tables["h_s"])  # validates the accumulator bounds now rather than at the first file
    last = max(int(k.split("_")[1]) for k in inner["h_s"] if k.startswith("dense_"))
    dim = int(np.shape(inner["h_s"][f"dense_{last}"]["bias"])[0]) // 2
  if affine:
    tables["affine"] = _affine_tables(params["scaling"], params["biasing"])
  tables["dim"] = np.asarray(dim, np.int32)
  tables[_FINGERPRINT] = fingerprint(tables)
  return tables


def _leaves(tree: Any, prefix: str = ""):
  if isinstance(tree, Mapping):
    for k in sorted(tree):
      if prefix == "" and k == _FINGERPRINT:
        continue
      yield from _leaves(tree[k], f"{prefix}/{k}")
  else:
    yield prefix, np.asarray(tree)


def fingerprint(tables: Mapping[str, Any]) -> np.ndarray:
  """First 16 bytes of SHA-256 over the tables (every leaf but ``fingerprint``), as uint8."""
  h = hashlib.sha256(b"lossyless_jax.entropy.tables/v1")
  for path, arr in _leaves(tables):
    a = np.ascontiguousarray(arr)
    a = a.astype(a.dtype.newbyteorder("<"), copy=False)
    h.update(path.encode())
    h.update(a.dtype.str.encode())
    h.update(np.asarray(a.shape, "<i8").tobytes())
    h.update(a.tobytes())
  return np.frombuffer(h.digest()[:16], np.uint8).copy()


def verify_fingerprint(tables: Mapping[str, Any]) -> bytes:
  """Recompute the fingerprint; raise ``StaleTablesError`` if tables were altered. Returns it."""
  if not isinstance(tables, Mapping) or _FINGERPRINT not in tables:
    raise StaleTablesError("not coding tables (no 'fingerprint'); build them with build_tables")
  stored = np.asarray(tables[_FINGERPRINT], np.uint8)
  actual = fingerprint(tables)
  if stored.shape != (16,) or not np.array_equal(stored, actual):
    raise StaleTablesError("coding tables were modified after build_tables (fingerprint mismatch); rebuild them")
  return actual.tobytes()


def _equal_trees(a: Any, b: Any) -> bool:
  if isinstance(a, Mapping) or isinstance(b, Mapping):
    if not (isinstance(a, Mapping) and isinstance(b, Mapping)) or set(a) != set(b):
      return False
    return all(_equal_trees(a[k], b[k]) for k in a)
  return np.array_equal(np.asarray(a), np.asarray(b))


def check_tables_match_params(tables: Mapping[str, Any], params: Mapping[str, Any]) -> None:
  """Raise ``StaleTablesError`` unless the decoder-side parameters copied into ``tables``
  (medians, ``h_s``, affine) equal those in ``params``."""
  kind, affine, inner = describe_params(params)
  if int(tables["kind"]) != kind:
    raise StaleTablesError(f"tables are for model kind {int(tables['kind'])}, params for {kind}")
  if affine != ("affine" in tables):
    raise StaleTablesError("tables and params disagree on the AffinePrecision wrapper")
  density = inner if kind == KIND_FACTORIZED else inner["side_density"]
  med = np.asarray(density[fz.QUANTILES], np.float32)[:, 1]
  ok = np.array_equal(med, tables["factorized"]["medians"])
  if kind == KIND_HYPERPRIOR:
    ok = ok and _equal_trees(tables["h_s"], inet.export_mlp(inner["h_s"]))
  if affine:
    stored = tables["affine"]
    ok = ok and all(
      np.array_equal(np.asarray(stored[k]), np.asarray(params[k], np.float32)) for k in ("scaling", "biasing")
    )
  if not ok:
    raise StaleTablesError(
      "the parameters changed since the coding tables were built "
      "(medians, h_s or affine differ); call build_tables again"
    )

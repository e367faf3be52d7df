"""Local weight files of the frozen Cityscapes task networks (Gray-Wyner paper §3.6: the product never
downloads weights; users convert PyTorch checkpoints they own, or pretrain in stage 0).

A file holds a network's variables ``{"params": ..., "batch_stats": ...}`` as nested arrays, in
msgpack (``flax.serialization``; any suffix but ``.npz``) or ``.npz`` (keys ``collection/path/to/leaf``).
:func:`load` checks the file against the module it is for: the same tree and every shape as
``jax.eval_shape(module.init, ...)``, raising :class:`~lossyless_jax.errors.WeightsError` that names the
file and the first mismatching key. A missing file's error names the conversion command that makes it
(`tools/convert_torch_weights.py`).
"""
from __future__ import annotations

import os
from typing import Any, Mapping

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from flax import traverse_util

from lossyless_jax.errors import WeightsError

__all__ = ["save", "read", "load", "check", "conversion_command", "CONVERTER"]

CONVERTER = "tools/convert_torch_weights.py"
_SEP = "/"

# Module class name -> (kind, source checkpoint, extra flags) of the converter.
_SOURCES = {
  "SegmentationTask": ("deeplabv3plus_mobilenet", "deeplabv3plus_mobilenet_cityscapes_os16.pth", ""),
  "DeepLabV3Plus": ("deeplabv3plus_mobilenet", "deeplabv3plus_mobilenet_cityscapes_os16.pth", " --bare"),
  "DepthTask": ("mobilenet_v3_large_imagenet", "mobilenet_v3_large-8738ca79.pth", ""),
  "LRASPP": ("mobilenet_v3_large_imagenet", "mobilenet_v3_large-8738ca79.pth", " --bare"),
}


def conversion_command(module: nn.Module, output: str) -> str:
  """The command that writes ``output`` for ``module`` from a PyTorch checkpoint (or a note saying how
  the file is made when no checkpoint fits, e.g. the ``tiny`` smoke-test networks)."""
  name = type(module).__name__
  if getattr(module, "tiny", False) or name not in _SOURCES:
    return (f"no PyTorch checkpoint fits {name}(tiny={getattr(module, 'tiny', None)}); write the file with "
            "lossyless_jax.nets.task_weights.save (a stage-0 run writes task_weights.msgpack)")
  kind, src, flags = _SOURCES[name]
  cmd = f"python {CONVERTER} --kind {kind} --input {src} --output {output}{flags}"
  if kind == "mobilenet_v3_large_imagenet":  # an LRASPP state dict converts too
    cmd += (f"  (or, from a torchvision LRASPP state dict: python {CONVERTER} --kind lraspp_mobilenet_v3_large "
            f"--input lraspp.pth --output {output}{flags})")
  return cmd


def _flat(tree: Mapping) -> dict[str, Any]:
  return traverse_util.flatten_dict(flax.core.unfreeze(tree), sep=_SEP)


def save(path: str, variables: Mapping) -> None:
  """Writes ``variables`` (a nested mapping of arrays) to ``path``: ``.npz`` or msgpack. Atomic."""
  flat = {k: np.asarray(jax.device_get(v)) for k, v in _flat(variables).items()}
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  tmp = f"{path}.tmp{os.getpid()}"
  with open(tmp, "wb") as f:
    if path.endswith(".npz"):
      np.savez(f, **flat)
    else:
      f.write(flax.serialization.msgpack_serialize(traverse_util.unflatten_dict(flat, sep=_SEP)))
  os.replace(tmp, path)


def read(path: str, command: str | None = None) -> dict:
  """The nested numpy arrays of a weights file. A missing or unreadable file raises
  :class:`WeightsError` naming it (and ``command``, the way to produce it)."""
  if not os.path.isfile(path):
    how = f"; produce it with: {command}" if command else ""
    raise WeightsError(f"weights file {path!r} does not exist{how}. Nothing is downloaded.")
  try:
    if path.endswith(".npz"):
      with np.load(path, allow_pickle=False) as z:
        flat = {k: z[k] for k in z.files}
      return traverse_util.unflatten_dict(flat, sep=_SEP)
    with open(path, "rb") as f:
      tree = flax.serialization.msgpack_restore(f.read())
  except Exception as e:  # noqa: BLE001 (any decoding failure is a bad file)
    raise WeightsError(f"weights file {path!r} is not a readable {'npz' if path.endswith('.npz') else 'msgpack'} "
                       f"file: {type(e).__name__}: {e}") from e
  if not isinstance(tree, dict):
    raise WeightsError(f"weights file {path!r} holds a {type(tree).__name__}, not a tree of variables")
  return tree


def check(variables: Mapping, expected: Mapping, source: str) -> dict:
  """``variables`` cast to ``expected``'s dtypes, after checking it has exactly ``expected``'s keys and
  shapes (``expected``: arrays or ``jax.ShapeDtypeStruct``); else :class:`WeightsError` naming
  ``source`` and the first mismatching key."""
  got, want = _flat(variables), _flat(expected)
  out = {}
  for key, spec in want.items():
    if key not in got:
      raise WeightsError(f"{source}: {key!r} (shape {tuple(spec.shape)}) is missing; the file holds {len(got)} "
                         f"arrays for {len(want)} expected (another network, or the tiny variant?)")
    shape = tuple(np.shape(got[key]))
    if shape != tuple(spec.shape):
      raise WeightsError(f"{source}: {key!r} has shape {shape}, expected {tuple(spec.shape)}")
    out[key] = np.asarray(got[key]).astype(spec.dtype, copy=False)
  extra = [k for k in got if k not in want]
  if extra:
    raise WeightsError(f"{source}: unexpected array {extra[0]!r} (shape {tuple(np.shape(got[extra[0]]))}) "
                       f"and {len(extra) - 1} more not in the network")
  return traverse_util.unflatten_dict(out, sep=_SEP)


def expected_variables(module: nn.Module, example_input: jax.Array) -> dict:
  """``jax.eval_shape`` of ``module.init(…, example_input, train=False)``: the variables' shapes."""
  x = jax.ShapeDtypeStruct(np.shape(example_input), jnp.float32)
  return flax.core.unfreeze(jax.eval_shape(lambda x: module.init(jax.random.key(0), x, train=False), x))


def load(path: str, module: nn.Module, example_input: jax.Array) -> dict:
  """The variables of ``module`` from the weights file ``path``, checked against
  ``jax.eval_shape(module.init, example_input)`` (tree and shapes); jnp arrays."""
  tree = read(path, conversion_command(module, path))
  variables = check(tree, expected_variables(module, example_input), f"weights file {path!r}")
  return jax.tree_util.tree_map(jnp.asarray, variables)

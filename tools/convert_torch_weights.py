"""Converts a PyTorch checkpoint of a Cityscapes task network to a lossyless_jax weights file (msgpack, or
``.npz`` by suffix) that `lossyless_jax.nets.task_weights.load` reads (Gray-Wyner paper §3.6, App. D.5).

  python tools/convert_torch_weights.py --kind deeplabv3plus_mobilenet \\
      --input deeplabv3plus_mobilenet_cityscapes_os16.pth --output segmentation_init.msgpack
  python tools/convert_torch_weights.py --kind mobilenet_v3_large_imagenet \\
      --input mobilenet_v3_large-8738ca79.pth --output depth_init.msgpack

Kinds:

* ``deeplabv3plus_mobilenet`` — VainF/DeepLabV3Plus-Pytorch ``deeplabv3plus_mobilenet_cityscapes_os16.pth``
  (the state dict under ``model_state``; a bare state dict works too) → `nets.deeplab.DeepLabV3Plus`.
* ``lraspp_mobilenet_v3_large`` — a torchvision ``lraspp_mobilenet_v3_large`` state dict → `nets.lraspp.LRASPP`.
* ``mobilenet_v3_large_imagenet`` — torchvision ``mobilenet_v3_large`` ImageNet weights → the LRASPP
  backbone; the LRASPP head (``--num-classes``, 1) keeps its initialisation, the ImageNet classifier is dropped.

By default the output is the wrapped network of `nets.cityscapes_tasks` (``SegmentationTask`` /
``DepthTask``: the ×½ / ×2 samplers ``down`` and ``up`` at their initialisation, ``--seed``), which the
stage-0 configs load; ``--bare`` writes the network alone.

Layouts: conv ``(O, I, kh, kw)`` → ``(kh, kw, I, O)``, depthwise ``(C, 1, k, k)`` → ``(k, k, 1, C)``
(``feature_group_count=C``), BatchNorm ``weight/bias`` → ``params`` ``scale/bias`` and
``running_mean/running_var`` → ``batch_stats`` ``mean/var``; ``num_batches_tracked`` is dropped. Every
PyTorch key must be used and every Flax variable filled: any other key is an error naming it. Reading a
``.pth`` needs torch (``pip install -e ".[torch]"``); nothing is downloaded.
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import Callable, Mapping

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from lossyless_jax.errors import WeightsError  # noqa: E402

KINDS = ("deeplabv3plus_mobilenet", "lraspp_mobilenet_v3_large", "mobilenet_v3_large_imagenet")
_LEAF = {"kernel": "weight", "bias": "bias", "scale": "weight", "mean": "running_mean", "var": "running_var"}


def load_state_dict(path: str) -> dict[str, np.ndarray]:
  """A ``.pth`` state dict as float32 numpy arrays (``torch.load(weights_only=True)``; VainF's
  ``model_state`` entry and a DataParallel ``module.`` prefix are unwrapped)."""
  try:
    import torch
  except ImportError as e:
    raise ImportError('reading PyTorch checkpoints needs torch: pip install -e ".[torch]"') from e
  if not os.path.isfile(path):
    raise WeightsError(f"--input {path!r}: no such file (download the checkpoint yourself; nothing is fetched)")
  obj = torch.load(path, map_location="cpu", weights_only=True)
  if isinstance(obj, Mapping) and "model_state" in obj:
    obj = obj["model_state"]
  if not isinstance(obj, Mapping) or not obj:
    raise WeightsError(f"--input {path!r}: not a state dict (a mapping of tensors), got {type(obj).__name__}")
  state = {}
  for k, v in obj.items():
    if not isinstance(v, torch.Tensor):
      raise WeightsError(f"--input {path!r}: entry {k!r} is a {type(v).__name__}, not a tensor")
    state[k] = v.detach().cpu().numpy()
  if all(k.startswith("module.") for k in state):
    state = {k[len("module."):]: v for k, v in state.items()}
  return state


# --- Flax unit path -> PyTorch module prefix ---------------------------------------------------------------


def _convbn(prefix: str, layer: str, conv_index: int = 0) -> str:
  return f"{prefix}.{conv_index if layer == 'conv' else conv_index + 1}"


def _deeplab_name(unit: tuple[str, ...], tree: Mapping) -> str | None:
  """VainF's DeepLabV3+ key prefix of a Flax unit (a conv or batch norm) of `nets.deeplab.DeepLabV3Plus`."""
  top, sub, *rest = unit
  if top == "backbone":
    i = int(sub.split("_")[1])
    base = f"backbone.low_level_features.{i}" if i < 4 else f"backbone.high_level_features.{i - 4}"
    if i == 0:
      return _convbn(base, rest[0])
    part, layer = rest
    order = (["expand"] if "expand" in tree[sub] else []) + ["depthwise"]
    if part in order:
      return _convbn(f"{base}.conv.{order.index(part)}", layer)
    return f"{base}.conv.{len(order) + (layer != 'conv')}"  # pw-linear conv, then its BN, directly in .conv
  if top == "classifier":
    if sub == "classify":
      return "classifier.classifier.3"
    layer = rest[0]
    if sub.startswith("aspp_") and sub[5:].isdigit():
      return _convbn(f"classifier.aspp.convs.{sub[5:]}", layer)
    prefixes = {"project": "classifier.project", "aspp_project": "classifier.aspp.project",
                "decoder": "classifier.classifier"}
    if sub == "aspp_pool":  # AdaptiveAvgPool2d, conv, BN, ReLU
      return _convbn("classifier.aspp.convs.4", layer, conv_index=1)
    if sub in prefixes:
      return _convbn(prefixes[sub], layer)
  return None


def _mobilenet_v3_name(unit: tuple[str, ...], tree: Mapping, root: str) -> str | None:
  """torchvision's MobileNetV3 key prefix (``root`` = ``backbone`` in LRASPP, ``features`` in the
  classifier) of a Flax unit of `nets.mobilenet.MobileNetV3Large`."""
  sub, *rest = unit
  i = int(sub.split("_")[1])
  base = f"{root}.{i}"
  if "conv" in tree[sub]:  # features[0] and features[16]: Conv2dNormActivation
    return _convbn(base, rest[0])
  part, layer = rest
  order = [p for p in ("expand", "depthwise", "se", "project") if p in tree[sub]]
  if part == "se":
    return f"{base}.block.{order.index(part)}.{layer}"
  return _convbn(f"{base}.block.{order.index(part)}", layer)


def _lraspp_name(unit: tuple[str, ...], tree: Mapping, root: str = "backbone", head: bool = True) -> str | None:
  top, *rest = unit
  if top == "backbone":
    return _mobilenet_v3_name(tuple(rest), tree, root)
  if top == "classifier" and head:
    sub = rest[0]
    if sub == "cbr":
      return _convbn("classifier.cbr", rest[1])
    return {"scale": "classifier.scale.1", "low_classifier": "classifier.low_classifier",
            "high_classifier": "classifier.high_classifier"}.get(sub)
  return None


# --- conversion -------------------------------------------------------------------------------------------


def _modules(kind: str, num_classes: int | None):
  from lossyless_jax.nets import cityscapes_tasks, deeplab, lraspp
  if kind == "deeplabv3plus_mobilenet":
    n = num_classes or cityscapes_tasks.NUM_CLASSES
    return deeplab.DeepLabV3Plus(n), cityscapes_tasks.SegmentationTask(n)
  if num_classes not in (None, 1):
    raise WeightsError(f"--num-classes {num_classes}: the depth task network has one output channel")
  return lraspp.LRASPP(1), cityscapes_tasks.DepthTask()


def _num_classes(kind: str, state: Mapping[str, np.ndarray]) -> int | None:
  key = {"deeplabv3plus_mobilenet": "classifier.classifier.3.weight",
         "lraspp_mobilenet_v3_large": "classifier.low_classifier.weight"}.get(kind)
  return int(state[key].shape[0]) if key in state else None


def _init_values(module, inputs, seed: int) -> dict:
  import jax
  import jax.numpy as jnp
  return jax.tree_util.tree_map(np.asarray, module.init(jax.random.key(seed), *(jnp.zeros(s) for s in inputs)))


def convert(kind: str, state: Mapping[str, np.ndarray], *, wrap: bool = True, num_classes: int | None = None,
            seed: int = 0) -> dict:
  """The Flax variables ``{"params", "batch_stats"}`` of the ``kind`` checkpoint ``state`` (numpy arrays
  by PyTorch key): of the wrapped task network (samplers at init, ``seed``) or, ``wrap=False``, the bare
  network. Raises :class:`WeightsError` naming any unused PyTorch key or unfilled Flax variable."""
  import jax
  from flax import traverse_util

  from lossyless_jax.nets import task_weights
  from lossyless_jax.nets.gray_wyner import DownSample, UpSample
  from lossyless_jax.nets.lraspp import LRASPPHead

  if kind not in KINDS:
    raise WeightsError(f"--kind {kind!r}: expected one of {', '.join(KINDS)}")
  if kind == "mobilenet_v3_large_imagenet":
    name_of: Callable = lambda u, t: _lraspp_name(u, t, root="features", head=False)  # noqa: E731
    ignored = ("classifier.",)  # the ImageNet Linear layers
  else:
    name_of = _deeplab_name if kind == "deeplabv3plus_mobilenet" else _lraspp_name
    ignored = ()
    num_classes = num_classes or _num_classes(kind, state)
  bare, wrapped = _modules(kind, num_classes)
  expected = task_weights.expected_variables(bare, jax.ShapeDtypeStruct((1, 64, 64, 3), np.float32))
  tree = expected["params"]
  head_init = None
  if kind == "mobilenet_v3_large_imagenet":
    head = _init_values(LRASPPHead(1), [(1, 8, 8, 40), (1, 4, 4, 960)], seed + 1)
    head_init = traverse_util.flatten_dict({"params": {"classifier": head["params"]},
                                            "batch_stats": {"classifier": head["batch_stats"]}})

  used, flat = set(), {}
  for path, spec in traverse_util.flatten_dict(expected).items():
    unit, leaf = path[1:-1], path[-1]  # path[0] is the collection
    prefix = name_of(unit, tree[unit[0]])
    if prefix is None:
      if head_init is not None and path in head_init:
        flat[path] = head_init[path]
        continue
      raise WeightsError(f"no PyTorch key for Flax variable {'/'.join(path)} ({kind})")
    key = f"{prefix}.{_LEAF[leaf]}"
    if key not in state:
      raise WeightsError(f"the {kind} state dict has no {key!r} (for Flax {'/'.join(path)}, shape {spec.shape})")
    value = np.asarray(state[key], np.float32)
    if leaf == "kernel":
      value = value.transpose(2, 3, 1, 0)  # (O, I/groups, kh, kw) -> (kh, kw, I/groups, O)
    if value.shape != tuple(spec.shape):
      raise WeightsError(f"{key!r} has shape {state[key].shape}: as Flax {'/'.join(path)} that is {value.shape}, "
                         f"expected {tuple(spec.shape)} ({kind})")
    flat[path] = value
    used.add(key)
  left = [k for k in state if k not in used and not k.endswith(".num_batches_tracked")
          and not k.startswith(ignored)]
  if left:
    raise WeightsError(f"the {kind} state dict has {len(left)} key(s) no Flax variable uses, the first "
                       f"{left[0]!r} (shape {tuple(np.shape(state[left[0]]))}): not a {kind} checkpoint?")
  variables = traverse_util.unflatten_dict(flat)
  if not wrap:
    return task_weights.check(variables, expected, kind)
  n = wrapped.num_classes if hasattr(wrapped, "num_classes") else 1
  down = _init_values(DownSample(3), [(1, 8, 8, 3)], seed)["params"]
  up = _init_values(UpSample(n), [(1, 4, 4, n)], seed + 2)["params"]
  out = {"params": {"down": down, "net": variables["params"], "up": up},
         "batch_stats": {"net": variables["batch_stats"]}}
  return task_weights.check(out, task_weights.expected_variables(wrapped, jax.ShapeDtypeStruct((1, 64, 64, 3),
                                                                                            np.float32)), kind)


def main(argv=None) -> int:
  p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                              formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--kind", required=True, choices=KINDS)
  p.add_argument("--input", required=True, help="the PyTorch checkpoint (.pth)")
  p.add_argument("--output", required=True, help="the weights file to write (.msgpack, or .npz)")
  p.add_argument("--bare", action="store_true", help="the network alone, without the ×½/×2 samplers")
  p.add_argument("--num-classes", type=int, default=None, help="classes (default: from the checkpoint; 1 for depth)")
  p.add_argument("--seed", type=int, default=0, help="initialisation of the samplers (and of the ImageNet kind's head)")
  args = p.parse_args(argv)
  try:
    state = load_state_dict(args.input)
    variables = convert(args.kind, state, wrap=not args.bare, num_classes=args.num_classes, seed=args.seed)
  except (WeightsError, ImportError) as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  import jax

  from lossyless_jax.nets import task_weights
  task_weights.save(args.output, variables)
  n = sum(int(np.size(v)) for v in jax.tree_util.tree_leaves(variables))
  print(f"wrote {args.output}: {args.kind} ({'bare' if args.bare else 'with samplers'}), {n} numbers "
        f"from {len(state)} PyTorch entries")
  return 0


if __name__ == "__main__":
  sys.exit(main())

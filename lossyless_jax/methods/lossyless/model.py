"""The invariant compressor's parametrisation (paper §3-4, App. E):
``encoder -> [AffinePrecision] rate model (factorized | hyperprior | none) -> decoder | head``,
its inputs (keyed augmentations ``A(x)``, the supervised-equivalence pool) and its parameters on
disk (``compressor.msgpack``, which the staggered recipe and ``launch/codec.py`` read).
"""
from __future__ import annotations

import functools
import json
import os
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from lossyless_jax import data as data_lib
from lossyless_jax import errors
from lossyless_jax import methods
from lossyless_jax.data import augment as aug_lib
from lossyless_jax.data import banana
from lossyless_jax.entropy import factorized, rates
from lossyless_jax.entropy.affine import AffinePrecision
from lossyless_jax.entropy.hyperprior import VectorHyperprior
from lossyless_jax.losses import infonce
from lossyless_jax.methods.lossyless import defaults
from lossyless_jax.nets.convnets import ConvEncoder, ConvTransposeDecoder
from lossyless_jax.nets.mlp import MLP, ProjectionHead
from lossyless_jax.nets.resnet import ResNet

COMPRESSOR_FILE = "compressor.msgpack"


def _get(section, key):
  return section.get(key, defaults.MODEL.get(key, defaults.LOSS.get(key)))


# ------------------------------------------------------------------------------------------
# Inputs
# ------------------------------------------------------------------------------------------
def input_key(batch) -> str:
  """``image`` for image sources, ``x`` for vector sources (banana, features)."""
  for k in ("image", "x"):
    if k in batch:
      return k
  raise KeyError(f"lossyless methods need an 'image' or 'x' entry in the batch; got {sorted(batch)}")


@functools.lru_cache(maxsize=None)
def _augment_fn(spec_json: str, order: int):
  spec = json.loads(spec_json)
  return aug_lib.build_augment(spec if spec is not None else (), order=order)


def augment_fn(config):
  """``fn(key, image) -> image`` for ``config.model.augment`` (a preset name, a string or a
  sequence spec; empty/None: identity)."""
  spec = _get(config.model, "augment")
  if hasattr(spec, "to_dict"):
    spec = spec.to_dict()
  spec = aug_lib.parse_spec(spec)
  return _augment_fn(json.dumps(spec), int(_get(config.model, "augment_order")))


def augment_batch(key, x, config):
  """``A(x)``: images with ``model.augment``, Banana points with the group of
  ``model.banana_invariance``; each example is augmented with probability ``model.p_augment``
  (Fig. 12) and kept as it is otherwise."""
  k_aug, k_keep = jax.random.split(key)
  inv = _get(config.model, "banana_invariance")
  if x.ndim == 4:
    out = aug_lib.augment_batch(k_aug, x, augment_fn(config))
  elif inv:
    out = banana.augment(k_aug, x, inv)
  else:
    return x
  p = float(_get(config.model, "p_augment"))
  if p >= 1.0:
    return out
  if p <= 0.0:
    return x
  keep = jax.random.bernoulli(k_keep, p, (x.shape[0],) + (1,) * (x.ndim - 1))
  return jnp.where(keep, out, x)


def invariant_target(x, config):
  """VIC's reconstruction target: the unaugmented ``x`` (images) or the orbit representative
  ``Rot(225°)·[‖x‖, 0]`` (Banana), playing the maximal invariant ``M(x)`` of Eq. (7)."""
  inv = _get(config.model, "banana_invariance")
  if x.ndim != 4 and inv:
    return banana.representative(x, inv)
  return x


def likelihood(config, x) -> str:
  lik = _get(config.loss, "likelihood")
  if lik:
    return lik
  if x.ndim == 4:
    return "bernoulli" if x.shape[-1] == 1 else "gaussian_sigmoid"
  return "gaussian"


_POOLS: dict = {}


def label_pool(config):
  """Host-side pool of training images by label and a fixed representative image per label
  (supervised equivalence, Table 6), cached per data config."""
  key = json.dumps(config.data.to_dict(), sort_keys=True, default=str)
  if key not in _POOLS:
    with jax.ensure_compile_time_eval():  # concrete arrays even when first called inside jit
      arrays = data_lib.load_arrays(config.data, "train")
      pool = aug_lib.make_label_pool(arrays["image"], arrays["label"])
      reps = aug_lib.label_representatives(jax.random.PRNGKey(1234), pool)
      _POOLS[key] = (aug_lib.LabelPool(*(np.asarray(a) for a in pool)), np.asarray(reps))
  pool, reps = _POOLS[key]
  return aug_lib.LabelPool(*(jnp.asarray(a) for a in pool)), jnp.asarray(reps)


# ------------------------------------------------------------------------------------------
# Networks
# ------------------------------------------------------------------------------------------
def make_encoder(model_config) -> nn.Module | None:
  kind = _get(model_config, "encoder")
  z = int(model_config.z_dim)
  if kind == "conv":
    return ConvEncoder(z, channels=tuple(_get(model_config, "channels")))
  if kind == "mlp":
    return MLP(tuple(_get(model_config, "hidden")), z, activation=_get(model_config, "activation"),
               norm=_get(model_config, "norm") or None)
  if kind == "resnet18":
    return ResNet(out_dim=z, stage_sizes=tuple(_get(model_config, "resnet_stage_sizes")),
                  width=int(_get(model_config, "resnet_width")), pool=_get(model_config, "resnet_pool"))
  if kind == "identity":
    return None
  raise ValueError(f"config.model.encoder: {kind!r}; expected one of {', '.join(defaults.ENCODERS)}")


def has_bottleneck(model_config) -> bool:
  return _get(model_config, "rate") != "none"


def make_rate_model(model_config) -> nn.Module:
  kind = _get(model_config, "rate")
  z = int(model_config.z_dim)
  if kind == "factorized":
    model = factorized.EntropyBottleneck(z, init_scale=float(_get(model_config, "rate_init_scale")))
  elif kind == "hyperprior":
    model = VectorHyperprior(z)
  else:
    raise ValueError(f"config.model.rate: {kind!r}; expected factorized or hyperprior")
  return AffinePrecision(model) if _get(model_config, "affine") else model


def _rate_model_of(dim, rate_params):
  """The rate module, a function of the parameters' structure only."""
  inner = rate_params["rate_model"] if "scaling" in rate_params else rate_params
  base = VectorHyperprior(dim) if "h_s" in inner else factorized.EntropyBottleneck(dim)
  return AffinePrecision(base) if "scaling" in rate_params else base


def make_decoder(model_config, out_shape) -> nn.Module:
  if len(out_shape) == 3:
    return ConvTransposeDecoder(tuple(out_shape), top_channels=int(_get(model_config, "decoder_top_channels")))
  return MLP(tuple(_get(model_config, "decoder_hidden")), int(np.prod(out_shape)),
             activation=_get(model_config, "activation"), norm=_get(model_config, "norm") or None)


def make_head(model_config) -> nn.Module:
  out = int(_get(model_config, "proj_dim")) or None
  return ProjectionHead(hidden=int(_get(model_config, "proj_hidden")), out_dim=out)


def _apply(module, variables, x, *, train, rngs=None, **kw):
  """Applies `module`; returns (out, new_batch_stats) (batch stats updated only when training)."""
  stats = variables.get("batch_stats")
  v = {"params": variables["params"], **({"batch_stats": stats} if stats else {})}
  if train and stats:
    out, upd = module.apply(v, x, train=True, mutable=["batch_stats"], rngs=rngs, **kw)
    return out, upd["batch_stats"]
  return module.apply(v, x, train=train, rngs=rngs, **kw), stats


def _init(module, key, x, **kw):
  kw = {"train": False, **kw}
  variables = module.init({"params": key, "noise": key, "dropout": key}, x, **kw)
  return {"params": variables["params"], "batch_stats": variables.get("batch_stats", {})}


# ------------------------------------------------------------------------------------------
# Parameters
# ------------------------------------------------------------------------------------------
def init(rng, batch, config):
  """Params and model state from two examples of `batch`, compiled as one program
  (`methods.jit_once`: an eager ResNet18 init compiles op by op, ~50 s on 2 CPU cores)."""
  x = jnp.asarray(batch[input_key(batch)][:2])
  return methods.jit_once(functools.partial(_init_all, config=config), rng, x)


def _init_all(rng, x, config):
  kind = defaults.kind_of(config)
  ke, kr, kd = jax.random.split(rng, 3)
  params, state = {}, {}
  if kind == "staggered":
    enc_wd = _get(config.model, "encoder_workdir")
    if enc_wd:
      p, s, _ = load_workdir_params(enc_wd)
      state["frozen_encoder"] = {"params": p["encoder"], "batch_stats": s.get("encoder", {})}
  enc = make_encoder(config.model)
  if enc is not None and "frozen_encoder" not in state:
    v = _init(enc, ke, x)
    params["encoder"] = v["params"]
    if v["batch_stats"]:
      state["encoder"] = v["batch_stats"]
  z = encode(params, state, x, config, train=False)[0]
  if z.shape[-1] != int(config.model.z_dim):
    raise ValueError(f"config.model.z_dim={config.model.z_dim} but the encoder outputs {z.shape[-1]} features")
  if has_bottleneck(config.model):
    params["rate"] = _init(make_rate_model(config.model), kr, z)["params"]
  if kind in ("vic", "vc"):
    v = _init(make_decoder(config.model, x.shape[1:]), kd, z)
    params["decoder"] = v["params"]
    if v["batch_stats"]:
      state["decoder"] = v["batch_stats"]
  elif kind == "bince":
    params["head"] = make_head(config.model).init(kd, z)["params"]
    params["logit_scale"] = infonce.init_logit_scale(float(_get(config.loss, "init_temperature")))
  return params, state


def encode(params, model_state, x, config, *, train):
  """Pre-quantization representation z (B, z_dim) and the new encoder batch stats."""
  enc = make_encoder(config.model)
  if enc is None:
    return x.reshape(x.shape[0], -1).astype(jnp.float32), None
  if "frozen_encoder" in model_state:
    z, _ = _apply(enc, jax.lax.stop_gradient(model_state["frozen_encoder"]), x, train=False)
    return jax.lax.stop_gradient(z), None
  return _apply(enc, {"params": params["encoder"], "batch_stats": model_state.get("encoder")}, x, train=train)


def bottleneck(params, z, *, train, rng=None):
  """(z̃ (train: noisy / straight-through) or ẑ (eval), per-example rate −ln q(ẑ) in nats).
  Without a rate model (``model.rate='none'``): (z, 0)."""
  if "rate" not in params:
    return z, jnp.zeros(z.shape[0], jnp.float32)
  model = _rate_model_of(z.shape[-1], params["rate"])
  out, lik = model.apply({"params": params["rate"]}, z, train=train, rngs={"noise": rng} if train else None)
  return out, rates.rate_nats(lik)


def aux_loss(params):
  """The entropy models' quantile loss (it trains only the ``quantiles``, App. E)."""
  return factorized.total_aux_loss(params["rate"]) if "rate" in params else jnp.float32(0.0)


def decode(params, model_state, z, config, out_shape, *, train):
  dec = make_decoder(config.model, out_shape)
  out, stats = _apply(dec, {"params": params["decoder"], "batch_stats": model_state.get("decoder")}, z, train=train)
  return out.reshape((z.shape[0],) + tuple(out_shape)), stats


def save_compressor(workdir: str, params, model_state, tables=None) -> str:
  """Writes the trained (host) params, model state and the rate model's integer coding tables
  (``coding.build_tables``, computed once at export: a decoder reads them instead of rebuilding
  them from floats) to ``workdir/compressor.msgpack``."""
  from flax import serialization
  path = os.path.join(workdir, COMPRESSOR_FILE)
  tree = {"params": params, "model_state": model_state}
  if tables is not None:
    tree["tables"] = tables
  tree = jax.tree_util.tree_map(np.asarray, tree)
  with open(path + ".tmp", "wb") as f:
    f.write(serialization.msgpack_serialize(tree))
  os.replace(path + ".tmp", path)
  return path


def load_compressor(workdir: str) -> tuple:
  """(params, model_state, tables) of a finished lossyless workdir, from ``compressor.msgpack``
  (written by its report) alone: decoding a file needs nothing else, so a read-only copy of it
  suffices. ``tables`` is None for a file exported without them (before they were stored)."""
  from flax import serialization
  path = os.path.join(workdir, COMPRESSOR_FILE)
  if not os.path.exists(path):
    raise FileNotFoundError(f"{path} not found: train the compressor first (its report writes it)")
  with open(path, "rb") as f:
    raw = f.read()
  try:
    tree = serialization.msgpack_restore(raw)
    return tree["params"], tree.get("model_state", {}), tree.get("tables")
  except Exception as e:  # pylint: disable=broad-except  (msgpack raises several unrelated types)
    raise errors.DataError(f"{path}: not a compressor file written by a lossyless report "
                           f"({type(e).__name__}: {e})") from None


def load_workdir_params(workdir: str) -> tuple[Any, Any, Any]:
  """(params, model_state, config) of a finished lossyless workdir (``compressor.msgpack`` and
  ``config.json``)."""
  from lossyless_jax import provenance
  params, model_state, _ = load_compressor(workdir)
  return params, model_state, provenance.read_config(workdir)


def config_json(config) -> str:
  return json.dumps(config.to_dict(), sort_keys=True, default=str)


@functools.lru_cache(maxsize=16)
def config_from_json(config_json_str: str):
  import ml_collections
  return ml_collections.ConfigDict(json.loads(config_json_str))

"""Compress your own data with a trained workdir: ``Compressor.load(workdir)``.

    from lossyless_jax import Compressor
    c = Compressor.load("workdirs/digits_vic")
    x = c.preprocess(images)      # to what the encoder was trained on (shape, channels, [0, 1])
    data = c.compress(images)     # bytes: one self-checking file (README, "File formats")
    z_hat = c.decompress(data)    # the decoded representations
    x_hat = c.reconstruct(z_hat)  # where the method has a decoder (``c.has_decoder``)

`Compressor.load` picks the class from the files the run's report wrote:

* ``compressor.msgpack`` (VIC, VC, BINCE, staggered): `InvariantCompressor`; files are ``LJXB``,
  decoded representations ``(N, z_dim)`` float32. Decoding needs only that file.
* ``gray_wyner_coder.msgpack`` (Gray-Wyner codecs): `GrayWynerCompressor`; files are ``LJXS``
  with the streams ``common``, ``private1``, ``private2``; ``decompress(data, stream=...)`` gives
  the integer latents a receiver of that stream decodes (``{"y0", "y1", "y2"}``; ``"y"`` for Joint).
* a finished NERD run with one-shot coding (``loss.rcc_num_candidates > 0``): `OneShotCompressor`;
  files are ``RCC3``, and what decodes is the reproduction Y of each source itself.

``compress`` preprocesses its input (`preprocess`); images may be ``(H, W)``, ``(H, W, C)``,
``(N, H, W)`` or ``(N, H, W, C)``, uint8 in [0, 255] or floats in [0, 1], any size (resized
bilinearly, as the data pipeline resizes) and grey, RGB or RGBA (converted to the model's channels).
``launch/codec.py`` is this module on the command line.
"""
from __future__ import annotations

import abc
import functools
import json
import os
import sys

import numpy as np

from lossyless_jax import errors

STREAMS = ("all", "common", "private1", "private2")
SUFFIX = {"invariant": ".ljxb", "gray_wyner": ".ljxs", "one_shot": ".rcc"}


def _fail(message: str):
  raise errors.DataError(message)


def to_model_images(x, shape: tuple, what: str = "input") -> np.ndarray:
  """``x`` (one image or a batch; uint8 or [0, 1] floats; grey, RGB or RGBA; any size) as float32
  ``(N, *shape)`` images in [0, 1], ``shape = (H, W, C)``."""
  x = np.asarray(x)
  h, w, c = shape
  if x.dtype == np.uint8:
    x = x.astype(np.float32) / 255.0
  elif np.issubdtype(x.dtype, np.floating):
    x = x.astype(np.float32)
    if not np.all(np.isfinite(x)):
      _fail(f"{what}: holds NaN or infinite values")
    if x.size and (x.min() < 0.0 or x.max() > 1.0):
      _fail(f"{what}: float images must lie in [0, 1] (uint8 in [0, 255]); got values in [{x.min():.4g}, {x.max():.4g}]")
  else:
    _fail(f"{what}: dtype {x.dtype}; expected uint8 or floating-point images")
  if x.ndim == 2:
    x = x[None, ..., None]
  elif x.ndim == 3:  # one (H, W, C) image, or N grey (H, W) images
    x = x[None] if x.shape[-1] in (1, 3, 4) and x.shape[-1] != x.shape[-2] else x[..., None]
  elif x.ndim != 4:
    _fail(f"{what}: shape {x.shape}; expected images (H, W), (H, W, C), (N, H, W) or (N, H, W, C)")
  if x.shape[0] == 0:
    _fail(f"{what}: no images")
  if x.shape[-1] == 4:
    x = x[..., :3]  # alpha dropped
  if x.shape[-1] not in (1, 3):
    _fail(f"{what}: {x.shape[-1]} channels; expected 1 (grey), 3 (RGB) or 4 (RGBA)")
  if x.shape[-1] == 3 and c == 1:
    x = x @ np.asarray([0.299, 0.587, 0.114], np.float32)[:, None]  # ITU-R 601 luma, as Pillow's "L"
  elif x.shape[-1] == 1 and c == 3:
    x = np.repeat(x, 3, axis=-1)
  elif x.shape[-1] != c:
    _fail(f"{what}: {x.shape[-1]} channels; the model takes {c}")
  if x.shape[1] * w != x.shape[2] * h:
    _fail(f"{what}: images of {x.shape[1]}×{x.shape[2]} pixels; the model takes {h}×{w} (any size of that aspect "
          "ratio is resized): crop or pad them first")
  if x.shape[1:3] != (h, w):
    import jax
    # one image at a time: XLA:CPU's kernels for the resize sum in an order that can depend on the
    # batch size, and an image must become the same input alone or in any batch
    x = np.concatenate([np.asarray(jax.image.resize(one[None], (1, h, w, c), method="bilinear"), np.float32)
                        for one in x])
    x = np.clip(x, 0.0, 1.0)
  return np.ascontiguousarray(x, np.float32)


def to_model_vectors(x, dim: int, what: str = "input") -> np.ndarray:
  """``x`` (one vector or ``(N, ...)`` flattened per row) as float32 ``(N, dim)``."""
  x = np.asarray(x)
  if not (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)):
    _fail(f"{what}: dtype {x.dtype}; expected numbers")
  x = x.astype(np.float32)
  x = x.reshape(1, -1) if x.ndim <= 1 else x.reshape(x.shape[0], -1)
  if x.shape[0] == 0:
    _fail(f"{what}: no sources")
  if x.shape[1] != dim:
    _fail(f"{what}: {x.shape[1]} values per source; the model takes {dim}")
  if not np.all(np.isfinite(x)):
    _fail(f"{what}: holds NaN or infinite values")
  return x


def read_images(folder: str) -> np.ndarray:
  """The PNG (and JPEG, BMP, WebP) images of ``folder`` in file-name order, as one uint8 array
  ``(N, H, W, C)``; every image must have the same size and mode."""
  from PIL import Image
  if not os.path.isdir(folder):
    _fail(f"{folder}: not a folder of images")
  names = sorted(n for n in os.listdir(folder) if n.lower().endswith((".png", ".jpg", ".jpeg", ".bmp", ".webp")))
  if not names:
    _fail(f"{folder}: no images (.png, .jpg, .jpeg, .bmp, .webp) in the folder")
  images = []
  for n in names:
    with Image.open(os.path.join(folder, n)) as im:
      a = np.asarray(im.convert("RGBA" if im.mode in ("RGBA", "LA", "P") else ("RGB" if im.mode != "L" else "L")))
    images.append(a[..., None] if a.ndim == 2 else a)
  shapes = {a.shape for a in images}
  if len(shapes) > 1:
    _fail(f"{folder}: the images differ in size or channels ({sorted(shapes)[:3]}); resize them to one size")
  return np.stack(images)


def read_input(path: str) -> np.ndarray:
  """A ``.npy`` array, or a folder of images (`read_images`)."""
  if os.path.isdir(path):
    return read_images(path)
  if not path.endswith(".npy"):
    _fail(f"{path}: expected a .npy file or a folder of images")
  if not os.path.exists(path):
    raise FileNotFoundError(f"{path} not found")
  try:
    return np.load(path, allow_pickle=False)
  except ValueError as e:
    _fail(f"{path}: not a NumPy array file ({e})")


class Compressor(abc.ABC):
  """A trained compressor of a workdir (module docstring); `load` returns the right subclass."""

  kind = ""
  has_decoder = False

  def __init__(self, workdir: str):
    self.workdir = workdir

  @staticmethod
  def load(workdir: str, point: int = 0) -> "Compressor":
    """The compressor of a finished run; ``point``: which generator of a NERD run codes."""
    from lossyless_jax.methods.gray_wyner import files as gw_files
    from lossyless_jax.methods.lossyless import model as M
    if not os.path.isdir(workdir):
      raise FileNotFoundError(f"{workdir}: no such workdir (a finished run holding {M.COMPRESSOR_FILE}, "
                              f"{gw_files.CODER_FILE} or a NERD run's report.json)")
    if os.path.exists(os.path.join(workdir, gw_files.CODER_FILE)):
      return GrayWynerCompressor(workdir)
    if os.path.exists(os.path.join(workdir, M.COMPRESSOR_FILE)):
      return InvariantCompressor(workdir)
    if _one_shot_run(workdir):
      return OneShotCompressor(workdir, point)
    _fail(f"{workdir} holds no trained compressor: neither {M.COMPRESSOR_FILE} (VIC, VC, BINCE), nor "
          f"{gw_files.CODER_FILE} (Gray-Wyner), nor a finished NERD run with one-shot coding (report.json and "
          "config.json with loss.rcc_num_candidates > 0); its report writes them at the end of training")

  @functools.cached_property
  def config(self):
    from lossyless_jax import provenance
    return provenance.read_config(self.workdir)

  @abc.abstractmethod
  def preprocess(self, x) -> np.ndarray:
    """``x`` as the encoder's input batch."""

  def compress(self, x) -> bytes:
    """``x`` (preprocessed here) -> the bytes of one file."""
    return self.compress_with_info(x)[0]

  @abc.abstractmethod
  def compress_with_info(self, x, preprocessed: bool = False) -> tuple[bytes, dict]:
    """(the file's bytes, ``{"num", "bits_per_item_estimated", ...}``)."""

  @abc.abstractmethod
  def decompress(self, data: bytes):
    """The bytes of one file -> what its receiver gets."""

  def reconstruct(self, representation):
    raise errors.DataError(f"{self.workdir}: this {self.kind} compressor has no decoder (has_decoder is False)")


# ------------------------------------------------------------------------------------------- invariant
class InvariantCompressor(Compressor):
  """VIC / VC / BINCE / staggered: encoder -> entropy bottleneck -> one LJXB file of the ẑ."""

  kind = "invariant"

  def __init__(self, workdir: str):
    from lossyless_jax.entropy import tables as tables_lib
    from lossyless_jax.methods.lossyless import evaluate as E
    from lossyless_jax.methods.lossyless import model as M
    super().__init__(workdir)
    self.params, self.model_state, tables = M.load_compressor(workdir)
    self.has_decoder = "decoder" in self.params
    if "rate" not in self.params:
      self.tables = None
      return
    try:
      tables_lib.check_version(tables or {})
    except tables_lib.StaleTablesError:
      print(f"warning: {workdir}/{M.COMPRESSOR_FILE} holds no coding tables of this version (exported by an "
            "older one); rebuilding them from the parameters. Store them with "
            f"`python launch/codec.py export --workdir={workdir}`.", file=sys.stderr)
      tables = E.rate_state(self.params)["tables"]
    self.tables = tables

  def _need_rate(self):
    if self.tables is None:
      _fail(f"{self.workdir}: the model has no entropy bottleneck (staggered step 1): nothing to code")

  @functools.cached_property
  def input_shape(self) -> tuple:
    """One input's shape, from the run's data (``(H, W, C)`` images or ``(d,)`` vectors)."""
    from lossyless_jax import data as data_lib
    from lossyless_jax.methods.lossyless import model as M
    arrays = data_lib.load_arrays(self.config.data, "test")
    return tuple(int(s) for s in np.shape(arrays[M.input_key(arrays)])[1:])

  def preprocess(self, x) -> np.ndarray:
    shape = self.input_shape
    return to_model_images(x, shape) if len(shape) == 3 else to_model_vectors(x, int(np.prod(shape)))

  def views(self, split: str) -> np.ndarray:
    """The fixed evaluation views of a split of the run's data (those the report coded)."""
    from lossyless_jax.methods.lossyless import evaluate as E
    return E.views(self.config, split)[0]

  def compress_with_info(self, x, preprocessed: bool = False) -> tuple[bytes, dict]:
    from lossyless_jax.entropy import coding
    from lossyless_jax.methods.lossyless import evaluate as E
    self._need_rate()
    x = x if preprocessed else self.preprocess(x)
    z, bits = E.featurize(self.params, self.model_state, self.config, x)
    data = coding.compress(E.rate_state(self.params), z)
    return data, {"num": int(len(x)), "bits_per_item_estimated": float(bits.mean())}

  def decompress(self, data: bytes) -> np.ndarray:
    """The decoded ẑ ``(N, z_dim)`` float32; needs only ``compressor.msgpack``."""
    from lossyless_jax.entropy import coding
    self._need_rate()
    return coding.decompress({"tables": self.tables}, data)

  def reconstruct(self, z_hat) -> np.ndarray:
    """``sigmoid(decoder(ẑ))`` images in [0, 1] (VIC / VC; vectors as decoded)."""
    from lossyless_jax.methods.lossyless import evaluate as E
    if not self.has_decoder:
      return super().reconstruct(z_hat)
    return E.reconstruct(self.params, self.model_state, self.config, np.asarray(z_hat, np.float32), self.input_shape)


# ------------------------------------------------------------------------------------------- Gray-Wyner
class GrayWynerCompressor(Compressor):
  """A Gray-Wyner codec: images -> one LJXS file of three streams (``files.encode_split``)."""

  kind = "gray_wyner"
  has_decoder = True

  def __init__(self, workdir: str):
    from lossyless_jax.methods.gray_wyner import files
    super().__init__(workdir)
    coder = files.load_coder(workdir)
    self.codec, self.states, self.params = coder["codec"], coder["states"], coder["params"]
    self.config = coder["config"]

  @functools.cached_property
  def input_shape(self) -> tuple:
    from lossyless_jax.methods.gray_wyner import method as gw_method
    from lossyless_jax.methods.gray_wyner import report as gw_report
    batch = next(iter(gw_report.split_batches(self.config, gw_report.REPORT_SPLIT.get(
        gw_method.source(self.config)[0], gw_report.TEST_SPLIT))))
    return tuple(int(s) for s in np.shape(batch[gw_method.source(self.config)[2]])[1:])

  def preprocess(self, x) -> np.ndarray:
    shape = self.input_shape
    if len(shape) == 3 and shape[-1] in (1, 3):
      return to_model_images(x, shape)
    x = np.asarray(x, np.float32)  # the synthetic source: (N, H, W, 2) floats, as sampled
    x = x[None] if x.ndim == len(shape) else x
    if x.shape[1:] != shape:
      _fail(f"input: shape {x.shape}; the model takes (N, {', '.join(map(str, shape))})")
    return x

  def encode(self, x, preprocessed: bool = False) -> dict:
    """The integer latents of images ``x``."""
    from lossyless_jax.methods.gray_wyner import method as gw_method
    from lossyless_jax.methods.gray_wyner import report as gw_report
    x = x if preprocessed else self.preprocess(x)
    size, key = int(self.config.data.eval_batch_size), gw_method.source(self.config)[2]
    return gw_report.encode_latents(self.config, self.params, ({key: x[s:s + size]} for s in range(0, len(x), size)))

  def compress_latents(self, latents: dict) -> tuple[bytes, dict]:
    from lossyless_jax.entropy import streams
    from lossyless_jax.methods.gray_wyner import files
    num = len(next(iter(latents.values())))
    data = files.encode_split(self.states, latents)
    sizes = {s.name: 8 * len(s.payload) for s in streams.unpack(data)}
    return data, {"num": num, "codec": self.codec, **{f"bits_per_item/{k}": v / num for k, v in sizes.items()}}

  def compress_with_info(self, x, preprocessed: bool = False) -> tuple[bytes, dict]:
    return self.compress_latents(self.encode(x, preprocessed))

  def decompress(self, data: bytes, stream: str = "all") -> dict:
    """``{latent key: (N, h, w, c)}`` integer latents a receiver of ``stream`` decodes: ``common``
    alone, ``private1`` / ``private2`` (with the common latents they need), or ``all``."""
    from lossyless_jax.methods.gray_wyner import files
    if stream not in STREAMS:
      _fail(f"stream: {stream!r}; expected one of {', '.join(STREAMS)}")
    return files.decode_split(self.states, data, stream, self.codec)

  def reconstruct(self, latents: dict) -> dict:
    """``{"x1": X̂1, "x2": X̂2}``: each decoder's output for which ``latents`` hold its inputs."""
    import jax.numpy as jnp
    from lossyless_jax.methods.gray_wyner import method as gw_method
    mod = gw_method.module(self.config)
    lat = {k: jnp.asarray(v) for k, v in latents.items()}
    out = {}
    for i in (1, 2):
      if "y" in lat:  # Joint: both decoders read the one latent
        x = lat["y"]
      elif f"y{i}" in lat and ("y0" in lat or self.codec == "independent"):
        x = jnp.concatenate([lat["y0"], lat[f"y{i}"]], -1) if "y0" in lat else lat[f"y{i}"]
      else:
        continue  # this decoder's inputs were not decoded
      out[f"x{i}"] = np.asarray(mod.apply({"params": self.params}, x, method=lambda m, v, i=i: getattr(m, f"g{i}")(v)))
    if not out:
      _fail(f"reconstruct: latents {sorted(latents)} hold no decoder's inputs (decode a private stream, or 'all')")
    return out


# ------------------------------------------------------------------------------------------- one-shot
def _one_shot_run(workdir: str) -> bool:
  path = os.path.join(workdir, "config.json")
  if not (os.path.exists(path) and os.path.exists(os.path.join(workdir, "report.json"))):
    return False
  with open(path) as f:
    cfg = json.load(f)
  return cfg.get("method") == "nerd" and int((cfg.get("loss") or {}).get("rcc_num_candidates", 0) or 0) > 0


class OneShotCompressor(Compressor):
  """NERD-RCC (one-shot coding): each source -> the index of a sample of the learned Q_Y (RCC3 file)."""

  kind = "one_shot"

  def __init__(self, workdir: str, point: int = 0):
    from lossyless_jax import checkpoint
    from lossyless_jax import data as data_lib
    from lossyless_jax.methods import nerd
    super().__init__(workdir)
    with open(os.path.join(workdir, "report.json")) as f:
      report = json.load(f)
    if not 0 <= point < len(report["beta"]):
      _fail(f"point: {point}; the run has {len(report['beta'])} points (0 to {len(report['beta']) - 1})")
    self.point, self.beta, self.rate_bits = point, float(report["beta"][point]), max(float(report["R_bits"][point]), 0.0)
    config = self.config
    ckpt = checkpoint.Checkpointer(workdir, keep=1, keep_best=1)
    try:
      restored = (ckpt.restore_best(None) if config.get("report_on") == "best" else None) or ckpt.restore_latest(None)
    finally:
      ckpt.close()
    if restored is None:
      _fail(f"{workdir}: no complete checkpoint to load the generator from")
    state = restored[0]
    x = data_lib.load_arrays(config.data, config.eval_splits[0])
    self.dim = int(np.prod(np.shape(x["x"] if "x" in x else x["image"])[1:]))
    self.sample_fn = nerd._sample_fns(config, state["params"], state["model_state"], np.zeros(self.dim, np.float32))[point]

  def preprocess(self, x) -> np.ndarray:
    return to_model_vectors(x, self.dim)

  def _fingerprint(self):
    from lossyless_jax.entropy import one_shot
    return one_shot.sampler_fingerprint(self.sample_fn)

  def compress_with_info(self, x, preprocessed: bool = False) -> tuple[bytes, dict]:
    from lossyless_jax.entropy import one_shot
    from lossyless_jax.methods import nerd
    c = self.config
    x = x if preprocessed else self.preprocess(x)
    data, info = one_shot.rcc_compress(
        x, self.sample_fn, c.seed, self.beta, int(c.loss.rcc_num_candidates), self.rate_bits,
        method=c.loss.get("rcc_method", "pfr"), distortion=nerd.distortion_fn(c),
        sources_per_codebook=int(c.loss.get("rcc_sources_per_codebook", 100)), fingerprint=self._fingerprint())
    return data, {"num": int(len(x)), "distortion": info["distortion"], "bits_per_item_file": info["rate_bits_file"],
                  "bits_per_item_huffman": info["rate_bits_huffman"]}

  def decompress(self, data: bytes) -> np.ndarray:
    """The reproductions Y ``(N, dim)`` the encoder chose (regenerated from the shared seed)."""
    from lossyless_jax.entropy import one_shot
    return one_shot.rcc_decompress(data, self.sample_fn, self.config.seed, fingerprint=self._fingerprint())[0]

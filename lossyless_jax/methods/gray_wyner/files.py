"""Gray-Wyner files: the three streams of an image, of a whole split, and the coder file that
decodes them (Gray-Wyner paper §3: one common channel, decodable alone, and one private channel per
task, decodable given the common one).

**Image files** (`encode_image`): one LJXS file (`entropy.streams`) with the streams ``common``
(``Y0``; the Joint codec's single ``Y``), ``private1`` and ``private2`` (``Y1``, ``Y2``), each one
masked-context file (`entropy.context`); a private stream records the CRC-32 of the common stream
it was coded against, and the Independent codec has no common stream.

**Split files** (`encode_split`): the same three streams for N images: each stream's payload is the
N images' context files one after another (each self-delimiting: its header gives its length), so
a receiver extracts one stream (``streams.extract``) and decodes all its images; a private stream
depends on the split's whole common stream.

**Integer latents.** The range coder reconstructs ``k + μ`` with ``k = rint(ŷ − μ)`` (``μ`` on the
2^-8 grid); coding ``ŷ + 2^-10`` makes every ``ŷ + 2^-10 − μ`` a non-tie, so ``|k + μ − ŷ − 2^-10| <
½`` and ``ŷ = rint(k + μ − 2^-10)`` exactly.

**Coder file** (``gray_wyner_coder.msgpack`` in a run's workdir, written by the report): the codec
name, the exported integer entropy models (``h0``, ``h1``, ``h2``: all a decoder needs), the
trained parameters and the run's config (what an encoder needs).
"""
from __future__ import annotations

import json
import os

import numpy as np

from lossyless_jax import errors
from lossyless_jax.entropy import container, context, streams

EPS = 2.0 ** -10  # tie-breaking offset of the coded integer latents (module docstring)
CODER_FILE = "gray_wyner_coder.msgpack"
# latent key -> stream name, per codec layout
STREAM_OF = {"y0": "common", "y": "common", "y1": "private1", "y2": "private2"}
LATENT_OF = {"common": None, "private1": "y1", "private2": "y2"}
STREAMS = tuple(LATENT_OF)


def _common_key(latents: dict) -> str | None:
  return "y" if "y" in latents else ("y0" if "y0" in latents else None)


def _integers(y_hat: np.ndarray) -> np.ndarray:
  return np.rint(y_hat.astype(np.float64) - EPS).astype(np.float32)


def _code(states: dict, name: str, y: np.ndarray, cond: np.ndarray | None) -> bytes:
  return context.compress(states["h0" if name == "common" else f"h{name[-1]}"], y + EPS, cond=cond)


def _decode(states: dict, name: str, payload: bytes, cond: np.ndarray | None) -> np.ndarray:
  return _integers(context.decompress(states["h0" if name == "common" else f"h{name[-1]}"], payload, cond=cond))


def _entries(latents: dict, code) -> list:
  """``(name, payload, dependencies)`` of the streams of one image or split; ``code(name, key,
  cond_key)`` codes a latent."""
  entries = []
  common = _common_key(latents)
  if common is not None:
    entries.append(("common", code("common", common, None), ()))
  if "y1" in latents:
    cond = "y0" if "y0" in latents else None
    deps = ("common",) if cond is not None else ()
    for i in (1, 2):
      entries.append((f"private{i}", code(f"private{i}", f"y{i}", cond), deps))
  return entries


def encode_image(states: dict, latents: dict) -> bytes:
  """One LJXS file of an image's integer latents ``{key: (h, w, c)}``."""
  return streams.pack(_entries(latents, lambda name, key, cond: _code(
    states, name, latents[key], None if cond is None else latents[cond])))


def decode_common(states: dict, stream: streams.Stream) -> np.ndarray:
  """The common latent from the ``common`` stream alone."""
  return _decode(states, "common", stream.payload, None)


def decode_private(states: dict, stream: streams.Stream, common: streams.Stream | None = None,
                   y0: np.ndarray | None = None) -> np.ndarray:
  """A private latent given the ``common`` stream it depends on (decoded here unless ``y0`` is
  given); a common stream of another file raises `container.ForeignModelError`."""
  if stream.depends:
    streams.check_dependencies(stream, {} if common is None else {"common": common})
    if y0 is None:
      y0 = decode_common(states, common)
  return _decode(states, stream.name, stream.payload, y0 if stream.depends else None)


def decode_file(states: dict, data: bytes, codec: str) -> dict:
  """``{latent key: integer latent}`` of a whole image file."""
  by_name = {s.name: s for s in streams.unpack(data)}
  out = {}
  if "common" in by_name:
    out["y" if codec == "joint" else "y0"] = decode_common(states, by_name["common"])
  for i in (1, 2):
    name = f"private{i}"
    if name in by_name:
      out[f"y{i}"] = decode_private(states, by_name[name], by_name.get("common"), out.get("y0"))
  return out


# ----------------------------------------------------------------------------- splits
def encode_split(states: dict, latents: dict) -> bytes:
  """One LJXS file of N images' integer latents ``{key: (N, h, w, c)}`` (module docstring)."""
  n = len(next(iter(latents.values())))

  def code(name, key, cond):
    return b"".join(_code(states, name, latents[key][i], None if cond is None else latents[cond][i]) for i in range(n))

  return streams.pack(_entries(latents, code))


def _files(payload: bytes) -> list[bytes]:
  """The context files a split stream holds, one after another."""
  out, offset = [], 0
  while offset < len(payload):
    length = container.read_header(payload[offset:]).total_length
    out.append(payload[offset:offset + length])
    offset += length
  return out


def decode_split(states: dict, data: bytes, stream: str, codec: str) -> dict:
  """What a receiver of ``stream`` gets from a split file: ``common`` alone gives the common latents
  (``y0``; ``y`` for Joint), ``private1`` / ``private2`` the common ones (where the codec has a common
  channel) and their own ``y1`` / ``y2``, ``all`` every latent; ``{key: (N, h, w, c)}``."""
  if stream not in (*STREAMS, "all"):
    raise ValueError(f"stream must be one of {', '.join((*STREAMS, 'all'))}, got {stream!r}")
  by_name = {s.name: s for s in streams.unpack(data)}
  wanted = list(by_name) if stream == "all" else [stream]
  missing = [w for w in wanted if w not in by_name]
  if missing:
    raise container.CorruptedBitstreamError(f"the file has no stream {missing[0]!r} (it holds {sorted(by_name)})")
  out = {}
  need_common = "common" in wanted or any(by_name[w].depends for w in wanted)
  if need_common:
    key = "y" if codec == "joint" else "y0"
    out[key] = np.stack([decode_common(states, streams.Stream("common", f, {})) for f in _files(by_name["common"].payload)])
  for name in wanted:
    if name == "common":
      continue
    s = by_name[name]
    if s.depends:
      streams.check_dependencies(s, {"common": by_name["common"]})
    files = _files(s.payload)
    cond = out.get("y0") if s.depends else None
    if cond is not None and len(cond) != len(files):
      raise container.CorruptedBitstreamError(f"stream {name!r} holds {len(files)} images, the common stream {len(cond)}")
    out[LATENT_OF[name]] = np.stack([_decode(states, name, f, None if cond is None else cond[i])
                                     for i, f in enumerate(files)])
  return out


# ----------------------------------------------------------------------------- coder file
def save_coder(workdir: str, codec: str, states: dict, params, config) -> str:
  """Writes ``workdir/gray_wyner_coder.msgpack`` (module docstring)."""
  import jax
  from flax import serialization
  path = os.path.join(workdir, CODER_FILE)
  tree = {"codec": codec, "states": states, "params": jax.tree_util.tree_map(np.asarray, params),
          "config_json": json.dumps(config.to_dict(), sort_keys=True, default=str)}
  with open(path + ".tmp", "wb") as f:
    f.write(serialization.msgpack_serialize(tree))
  os.replace(path + ".tmp", path)
  return path


def load_coder(workdir: str) -> dict:
  """``{"codec", "states", "params", "config"}`` of a finished Gray-Wyner workdir."""
  import ml_collections
  from flax import serialization
  path = os.path.join(workdir, CODER_FILE)
  if not os.path.exists(path):
    raise FileNotFoundError(f"{path} not found: train the Gray-Wyner codec first (its report writes it)")
  try:
    tree = serialization.msgpack_restore(open(path, "rb").read())
    return {"codec": str(tree["codec"]), "states": tree["states"], "params": tree["params"],
            "config": ml_collections.ConfigDict(json.loads(tree["config_json"]))}
  except Exception as e:  # pylint: disable=broad-except  (msgpack raises several unrelated types)
    raise errors.DataError(f"{path}: not a Gray-Wyner coder file ({type(e).__name__}: {e})") from None

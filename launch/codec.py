"""Compress your own data, or a dataset split, with a trained workdir; decode; inspect; train a probe.

COMMAND: python launch/codec.py compress --workdir=workdirs/digits_vic --input=x.npy

The command line of `lossyless_jax.Compressor` (`lossyless_jax/api.py`). The workdir is a finished
run whose report wrote ``compressor.msgpack`` (VIC, VC, BINCE, staggered: LJXB files),
``gray_wyner_coder.msgpack`` (Gray-Wyner codecs: LJXS files of the streams ``common``, ``private1``,
``private2``) or ``report.json`` of a NERD run with one-shot coding (``rcc_gaussian.py``: RCC3
files). File formats: README.md, "File formats", and docs/rate_layer.md. Outputs go into
``W/codec/`` unless ``--out`` is given.

  compress   --workdir=W --input=x.npy|DIR     your own data: a .npy array or a folder of images
                                               (PNG, JPEG, BMP, WebP; one size), preprocessed as
                                               the encoder expects -> W/codec/<name>.<ljxb|ljxs|rcc>
  compress   --workdir=W --split=S             the split's fixed evaluation views (the report's
                                               files; Gray-Wyner: the first --num images)
  decompress --workdir=W --file=F              F -> W/codec/<name>.npz: ``z_hat`` (invariant;
                                               needs only W/compressor.msgpack), the integer
                                               latents ``y0``, ``y1``, ``y2`` (``y`` for Joint) a
                                               receiver of --stream decodes (Gray-Wyner), or the
                                               reproductions ``y_hat`` (one-shot);
                                               --reconstruct adds the decoders' outputs
  export     --workdir=W                       rebuild W/compressor.msgpack's coding tables from
                                               its parameters (a workdir of an older version)
  inspect    F                                 the file's header as JSON (no model needed)
  probe      --workdir=W --train=F1 --test=F2  train a linear probe on decoded F1, test on F2
                                               (labels of --train_split / --test_split)

Each command prints a JSON summary; a split's decoded representations equal the report's
(``W/representations.npz``, ``W/latents.npz``).
"""
from __future__ import annotations

import json
import os

import numpy as np
from absl import app, flags


def define_flags() -> None:
  """The CLI's flags (defined only when run as a script, so that importing this module next to
  another launch script defines nothing)."""
  flags.DEFINE_string("workdir", None, "The finished run whose compressor codes (compress, decompress, export, probe).")
  flags.DEFINE_string("input", None, "compress: your data, a .npy array (images or vectors) or a folder of images.")
  flags.DEFINE_string("split", None, "compress: a split of the run's data to code instead of --input (e.g. test).")
  flags.DEFINE_string("out", None, "compress: the file to write; decompress: the .npz to write "
                      "(default: W/codec/<input, split or file name>.<suffix>).")
  flags.DEFINE_string("file", None, "decompress: the compressed file to decode.")
  flags.DEFINE_enum("stream", "all", ["all", "common", "private1", "private2"],
                    "decompress (Gray-Wyner files): the receiver whose latents to decode: common alone, "
                    "private1 / private2 (with the common latents), or all.")
  flags.DEFINE_bool("reconstruct", False, "decompress: also store the decoders' outputs (x_hat; x1, x2 for Gray-Wyner).")
  flags.DEFINE_integer("num", 0, "compress --split (Gray-Wyner): images of the split to code (0: as many as the report coded).")
  flags.DEFINE_integer("point", 0, "compress / decompress (one-shot): the NERD point (generator) that codes.")
  flags.DEFINE_string("train", None, "probe: the coded train file.")
  flags.DEFINE_string("test", None, "probe: the coded test file.")
  flags.DEFINE_string("train_split", "train", "probe: the split the train file's labels come from.")
  flags.DEFINE_string("test_split", "test", "probe: the split the test file's labels come from.")
  flags.DEFINE_integer("epochs", 300, "probe: epochs of the linear probe.")


COMMANDS = ("compress", "decompress", "export", "inspect", "probe")


def _api():
  from lossyless_jax import api
  return api


def default_path(workdir: str, name: str, suffix: str) -> str:
  """``W/codec/<name><suffix>`` (the folder created)."""
  folder = os.path.join(workdir, "codec")
  os.makedirs(folder, exist_ok=True)
  return os.path.join(folder, os.path.splitext(os.path.basename(os.path.normpath(name)))[0] + suffix)


def _write(path: str, data: bytes) -> None:
  with open(path, "wb") as f:
    f.write(data)


def is_gray_wyner(workdir: str) -> bool:
  from lossyless_jax.methods.gray_wyner import files
  return os.path.exists(os.path.join(workdir, files.CODER_FILE))


def compress_input(workdir: str, path: str, out: str | None = None, point: int = 0) -> dict:
  """A .npy array or a folder of images -> one file (`Compressor.compress`)."""
  api = _api()
  c = api.Compressor.load(workdir, point)
  x = api.read_input(path)
  data, info = c.compress_with_info(x)
  out = out or default_path(workdir, path, api.SUFFIX[c.kind])
  _write(out, data)
  return {"file": out, "kind": c.kind, "input": path, "input_shape": list(np.shape(x)), "bytes": len(data),
          "bits_per_item_coded": 8.0 * len(data) / info["num"], **info}


def compress_gray_wyner(workdir: str, split: str, out: str, num: int = 0) -> dict:
  """The first ``num`` images of ``split`` -> one three-stream file (``files.encode_split``)."""
  from lossyless_jax.methods.gray_wyner import report as gw_report
  c = _api().GrayWynerCompressor(workdir)
  limit = int(num) or int(c.config.loss.code_images) or None
  latents = gw_report.encode_latents(c.config, c.params, gw_report.first_images(
      gw_report.split_batches(c.config, split), limit))
  data, info = c.compress_latents(latents)
  _write(out, data)
  return {"file": out, "num_images": info["num"], "bytes": len(data), "codec": c.codec,
          **{k.replace("bits_per_item", "bits_per_image"): v for k, v in info.items() if "/" in k}}


def decompress_gray_wyner(workdir: str, file: str, stream: str = "all", out: str | None = None) -> dict:
  """The latents a receiver of ``stream`` decodes from a file of :func:`compress_gray_wyner`; needs
  only the workdir's coder file."""
  with open(file, "rb") as f:
    latents = gw_files_decode(workdir, f.read(), stream)
  if out:
    np.savez(out, **latents)
  return latents


def gw_files_decode(workdir: str, data: bytes, stream: str) -> dict:
  """:func:`decompress_gray_wyner` on bytes."""
  return _api().GrayWynerCompressor(workdir).decompress(data, stream)


def compress(workdir: str, split: str, out: str) -> dict:
  """The fixed evaluation views of ``split`` -> one LJXB file (the report's ``compressed/<split>.ljxb``)."""
  c = _api().InvariantCompressor(workdir)
  data, info = c.compress_with_info(c.views(split), preprocessed=True)
  _write(out, data)
  return {"file": out, "num_images": info["num"], "bytes": len(data),
          "bits_per_image_coded": 8.0 * len(data) / info["num"], "bits_per_image_estimated": info["bits_per_item_estimated"]}


def decompress(workdir: str, file: str, out: str | None = None) -> np.ndarray:
  """The decoded ẑ of an LJXB file; needs only the workdir's ``compressor.msgpack`` (its integer
  coding tables, rebuilt from the parameters with a warning for a file exported without them)."""
  with open(file, "rb") as f:
    z_hat = _api().InvariantCompressor(workdir).decompress(f.read())
  if out:
    np.savez(out, z_hat=z_hat)
  return z_hat


def decompress_any(workdir: str, file: str, out: str | None = None, stream: str = "all", point: int = 0,
                   reconstruct: bool = False) -> dict:
  """Any workdir's file -> ``out`` (.npz; default ``W/codec/<file name>.npz``)."""
  api = _api()
  c = api.Compressor.load(workdir, point)
  with open(file, "rb") as f:
    data = f.read()
  rep = c.decompress(data, stream) if c.kind == "gray_wyner" else c.decompress(data)
  arrays = dict(rep) if isinstance(rep, dict) else {"z_hat" if c.kind == "invariant" else "y_hat": rep}
  if reconstruct:
    rec = c.reconstruct(rep)
    arrays.update(rec if isinstance(rec, dict) else {"x_hat": rec})
  out = out or default_path(workdir, file, ".npz")
  np.savez(out, **arrays)
  return {"out": out, "kind": c.kind, **({"stream": stream} if c.kind == "gray_wyner" else {}),
          "shapes": {k: list(v.shape) for k, v in arrays.items()}}


def export(workdir: str) -> dict:
  """Rebuilds the coding tables of ``W/compressor.msgpack`` from its parameters and stores them."""
  from lossyless_jax.methods.lossyless import evaluate, model
  params, model_state, _ = model.load_compressor(workdir)
  tables = evaluate.rate_state(params)["tables"]
  path = model.save_compressor(workdir, params, model_state, tables)
  return {"compressor": path, "tables_version": int(tables["version"]), "kind": int(tables["kind"])}


def inspect(file: str) -> dict:
  """The header of an LJXB, LJXS or RCC3 file."""
  from lossyless_jax.entropy import container, one_shot, streams
  with open(file, "rb") as f:
    data = f.read()
  if data[:4] == one_shot.MAGIC:
    return {"format": "RCC3", **one_shot.read_header(data), "file_bytes": len(data)}
  if data[:4] == streams.MAGIC:
    return {"format": "LJXS", "streams": [{"name": s.name, "payload_bytes": len(s.payload), "crc": s.crc,
                                           "depends": sorted(s.depends)} for s in streams.unpack(data)],
            "file_bytes": len(data)}
  h = container.read_header(data)
  out = {}
  for k, v in vars(h).items():
    out[k] = v.hex() if isinstance(v, bytes) else (list(v) if isinstance(v, tuple) else v)
  out["file_bytes"] = len(data)
  return out


def probe(workdir: str, train_file: str, test_file: str, train_split: str = "train", test_split: str = "test",
          epochs: int = 300) -> dict:
  import jax
  from lossyless_jax.evaluation import probes
  config = _api().InvariantCompressor(workdir).config
  ztr, zte = decompress(workdir, train_file), decompress(workdir, test_file)
  ytr = _labels(config, train_split, len(ztr))
  yte = _labels(config, test_split, len(zte))
  res = probes.train_linear_probe(jax.random.PRNGKey(0), ztr, ytr, zte, yte, epochs=epochs)
  return {"linear_probe_accuracy": res.test_accuracy, "train_images": len(ztr), "test_images": len(zte)}


def _labels(config, split, n):
  from lossyless_jax import data as data_lib
  y = np.asarray(data_lib.load_arrays(config.data, split)["label"])
  if n % len(y):
    raise ValueError(f"{n} decoded representations are not a whole number of copies of split {split!r} ({len(y)})")
  return np.tile(y, n // len(y))


def _need(*names):
  missing = [n for n in names if flags.FLAGS[n].value is None]
  if missing:
    raise app.UsageError(f"missing --{', --'.join(missing)}")


def _compress(f) -> dict:
  _need("workdir")
  if (f.input is None) == (f.split is None):
    raise app.UsageError("compress takes one of --input (a .npy file or a folder of images) and --split (a split "
                         "of the run's data); the file goes into W/codec/ unless --out names it")
  if f.input is not None:
    return compress_input(f.workdir, f.input, f.out, f.point)
  api = _api()
  if is_gray_wyner(f.workdir):
    return compress_gray_wyner(f.workdir, f.split, f.out or default_path(f.workdir, f.split, api.SUFFIX["gray_wyner"]), f.num)
  return compress(f.workdir, f.split, f.out or default_path(f.workdir, f.split, api.SUFFIX["invariant"]))


def main(argv):
  if len(argv) < 2 or argv[1] not in COMMANDS:
    got = f"{argv[1]!r}" if len(argv) > 1 else "nothing"
    raise app.UsageError(f"the first argument is the command, one of {', '.join(COMMANDS)}; got {got}")
  cmd, f = argv[1], flags.FLAGS
  if cmd == "inspect":
    if len(argv) != 3:
      raise app.UsageError("inspect takes one file: codec.py inspect FILE")
    out = inspect(argv[2])
  elif len(argv) > 2:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[2:])}")
  elif cmd == "compress":
    out = _compress(f)
  elif cmd == "export":
    _need("workdir")
    out = export(f.workdir)
  elif cmd == "decompress":
    _need("workdir", "file")
    out = decompress_any(f.workdir, f.file, f.out, f.stream, f.point, f.reconstruct)
  else:
    _need("workdir", "train", "test")
    out = probe(f.workdir, f.train, f.test, f.train_split, f.test_split, f.epochs)
  print(json.dumps(out, indent=1))


if __name__ == "__main__":
  import common  # launch/ is on sys.path when run as a script
  define_flags()
  common.run(main, __doc__, list_configs=False)

"""Compress a dataset split with a trained invariant compressor; decode; inspect; train a probe.

COMMAND: python launch/codec.py compress --workdir=workdirs/digits_vic --split=test --out=/tmp/test.ljxb

Subcommands (the workdir is a finished run of a lossyless config, whose report wrote
``compressor.msgpack``, or of a Gray-Wyner config, whose report wrote ``gray_wyner_coder.msgpack``):

  compress   --workdir=W --split=S --out=F       the split's fixed evaluation views (same
             augmentations as the evaluation) -> encoder -> one bitstream file F
  decompress --workdir=W --file=F --out=R.npz    F -> the decoded representations ``z_hat``
             (exactly those the evaluation's probes used: ``W/representations.npz``); needs
             only ``W/compressor.msgpack``
  export     --workdir=W                         rebuild ``W/compressor.msgpack``'s coding tables
             from its parameters (for a workdir exported by an older version)
  inspect    F                                   the file's header as JSON (no model needed)

Gray-Wyner workdirs: ``compress`` codes the first ``--num`` images of the split (default: those
the report coded) into one file of three streams (``common``, ``private1``, ``private2``: see
``methods/gray_wyner/files.py``); ``decompress --stream=common`` decodes the common stream alone,
``--stream=private1`` / ``private2`` what that task's receiver gets (the common latents and its
own), ``--stream=all`` everything; the .npz holds the integer latents ``y0``, ``y1``, ``y2`` (``y``
for the Joint codec), equal to the report's ``latents.npz``.
  probe      --workdir=W --train=F1 --test=F2    train a linear probe on decoded F1, test on F2
             (labels from the splits named by --train_split / --test_split) and print accuracy
"""
from __future__ import annotations

import json

import numpy as np
from absl import app, flags


def define_flags() -> None:
  """The CLI's flags (defined only when run as a script, so that importing this module next to
  another launch script defines nothing)."""
  flags.DEFINE_string("workdir", None, "A finished run of a lossyless config.")
  flags.DEFINE_string("split", "test", "compress: the split to code.")
  flags.DEFINE_string("out", None, "compress: the file to write; decompress: the .npz to write.")
  flags.DEFINE_string("file", None, "decompress: the file to decode.")
  flags.DEFINE_string("train", None, "probe: the coded train file.")
  flags.DEFINE_string("test", None, "probe: the coded test file.")
  flags.DEFINE_string("train_split", "train", "probe: the split the train file's labels come from.")
  flags.DEFINE_string("test_split", "test", "probe: the split the test file's labels come from.")
  flags.DEFINE_integer("epochs", 300, "probe: epochs of the linear probe.")
  flags.DEFINE_enum("stream", "all", ["all", "common", "private1", "private2"],
                    "decompress (Gray-Wyner files): the stream whose receiver's latents to decode.")
  flags.DEFINE_integer("num", 0, "compress (Gray-Wyner): images of the split to code (0: as many as the report coded).")


COMMANDS = ("compress", "decompress", "export", "inspect", "probe")


def _load(workdir):
  from lossyless_jax.methods.lossyless import evaluate, model
  params, model_state, config = model.load_workdir_params(workdir)
  return params, model_state, config, evaluate


def is_gray_wyner(workdir: str) -> bool:
  from lossyless_jax.methods.gray_wyner import files
  import os
  return os.path.exists(os.path.join(workdir, files.CODER_FILE))


def compress_gray_wyner(workdir: str, split: str, out: str, num: int = 0) -> dict:
  """The first ``num`` images of ``split`` -> one three-stream file (``files.encode_split``)."""
  from lossyless_jax.methods.gray_wyner import files
  from lossyless_jax.methods.gray_wyner import report as gw_report
  coder = files.load_coder(workdir)
  config = coder["config"]
  limit = int(num) or int(config.loss.code_images) or None
  latents = gw_report.encode_latents(config, coder["params"], gw_report.first_images(
      gw_report.split_batches(config, split), limit))
  num = len(next(iter(latents.values())))
  data = files.encode_split(coder["states"], latents)
  with open(out, "wb") as f:
    f.write(data)
  from lossyless_jax.entropy import streams
  sizes = {s.name: 8 * len(s.payload) for s in streams.unpack(data)}
  return {"file": out, "num_images": num, "bytes": len(data), "codec": coder["codec"],
          **{f"bits_per_image/{k}": v / num for k, v in sizes.items()}}


def decompress_gray_wyner(workdir: str, file: str, stream: str = "all", out: str | None = None) -> dict:
  """The latents a receiver of ``stream`` decodes from a file of :func:`compress_gray_wyner`; needs
  only the workdir's coder file."""
  with open(file, "rb") as f:
    data = f.read()
  latents = gw_files_decode(workdir, data, stream)
  if out:
    np.savez(out, **latents)
  return latents


def gw_files_decode(workdir: str, data: bytes, stream: str) -> dict:
  """:func:`decompress_gray_wyner` on bytes."""
  from lossyless_jax.methods.gray_wyner import files
  coder = files.load_coder(workdir)
  return files.decode_split(coder["states"], data, stream, coder["codec"])


def compress(workdir: str, split: str, out: str) -> dict:
  from lossyless_jax.entropy import coding
  params, model_state, config, ev = _load(workdir)
  x, _ = ev.views(config, split)
  z, bits = ev.featurize(params, model_state, config, x)
  data = coding.compress(ev.rate_state(params), z)
  with open(out, "wb") as f:
    f.write(data)
  return {"file": out, "num_images": int(len(x)), "bytes": len(data),
          "bits_per_image_coded": 8.0 * len(data) / len(x), "bits_per_image_estimated": float(bits.mean())}


def decompress(workdir: str, file: str, out: str | None = None) -> np.ndarray:
  """Needs only the workdir's ``compressor.msgpack``: the integer coding tables stored there at
  export (rebuilt from the parameters, with a warning, for a file exported without them)."""
  import sys
  from lossyless_jax.entropy import coding
  from lossyless_jax.methods.lossyless import evaluate, model
  from lossyless_jax.entropy import tables as tables_lib
  params, _, tables = model.load_compressor(workdir)
  try:
    tables_lib.check_version(tables or {})
  except tables_lib.StaleTablesError:
    print(f"warning: {workdir}/compressor.msgpack holds no coding tables of this version (exported by an "
          "older one); rebuilding them from the parameters. Store them with "
          f"`python launch/codec.py export --workdir={workdir}`.", file=sys.stderr)
    tables = evaluate.rate_state(params)["tables"]
  with open(file, "rb") as f:
    data = f.read()
  z_hat = coding.decompress({"tables": tables}, data)
  if out:
    np.savez(out, z_hat=z_hat)
  return z_hat


def export(workdir: str) -> dict:
  """Rebuilds the coding tables of ``W/compressor.msgpack`` from its parameters and stores them."""
  from lossyless_jax.methods.lossyless import evaluate, model
  params, model_state, _ = model.load_compressor(workdir)
  tables = evaluate.rate_state(params)["tables"]
  path = model.save_compressor(workdir, params, model_state, tables)
  return {"compressor": path, "tables_version": int(tables["version"]), "kind": int(tables["kind"])}


def inspect(file: str) -> dict:
  from lossyless_jax.entropy import container
  with open(file, "rb") as f:
    data = f.read()
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
  params, model_state, config, ev = _load(workdir)
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
    _need("workdir", "out")
    out = (compress_gray_wyner(f.workdir, f.split, f.out, f.num) if is_gray_wyner(f.workdir)
           else compress(f.workdir, f.split, f.out))
  elif cmd == "export":
    _need("workdir")
    out = export(f.workdir)
  elif cmd == "decompress":
    _need("workdir", "file", "out")
    if is_gray_wyner(f.workdir):
      latents = decompress_gray_wyner(f.workdir, f.file, f.stream, f.out)
      out = {"out": f.out, "stream": f.stream, "shapes": {k: list(v.shape) for k, v in latents.items()}}
    else:
      z = decompress(f.workdir, f.file, f.out)
      out = {"out": f.out, "shape": list(z.shape)}
  else:
    _need("workdir", "train", "test")
    out = probe(f.workdir, f.train, f.test, f.train_split, f.test_split, f.epochs)
  print(json.dumps(out, indent=1))


if __name__ == "__main__":
  import common  # launch/ is on sys.path when run as a script
  define_flags()
  common.run(main, __doc__, list_configs=False)

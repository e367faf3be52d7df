"""Compress a dataset split with a trained invariant compressor; decode; inspect; train a probe.

COMMAND: python launch/codec.py compress --workdir=workdirs/digits_vic --split=test --out=/tmp/test.ljxb

Subcommands (the workdir is a finished run of a lossyless config; its report wrote
``compressor.msgpack``):

  compress   --workdir W --split S --out F       the split's fixed evaluation views (same
             augmentations as the evaluation) -> encoder -> one bitstream file F
  decompress --workdir W --file F --out R.npz    F -> the decoded representations ``z_hat``
             (exactly those the evaluation's probes used: ``W/representations.npz``)
  inspect    F                                   the file's header as JSON (no model needed)
  probe      --workdir W --train F1 --test F2    train a linear probe on decoded F1, test on F2
             (labels from the splits named by --train-split / --test-split) and print accuracy
"""
from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))


def _load(workdir):
  from lossyless_jax.methods import lossyless, lossyless_eval
  params, model_state, config = lossyless.load_workdir_params(workdir)
  return params, model_state, config, lossyless_eval


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
  from lossyless_jax.entropy import coding
  params, _, _, ev = _load(workdir)
  with open(file, "rb") as f:
    data = f.read()
  z_hat = coding.decompress({"tables": ev.rate_state(params)["tables"]}, data)
  if out:
    np.savez(out, z_hat=z_hat)
  return z_hat


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


def main(argv=None) -> int:
  p = argparse.ArgumentParser(prog="codec.py", description=__doc__.split("\n")[0])
  sub = p.add_subparsers(dest="cmd", required=True)
  c = sub.add_parser("compress")
  c.add_argument("--workdir", required=True)
  c.add_argument("--split", default="test")
  c.add_argument("--out", required=True)
  d = sub.add_parser("decompress")
  d.add_argument("--workdir", required=True)
  d.add_argument("--file", required=True)
  d.add_argument("--out", required=True)
  i = sub.add_parser("inspect")
  i.add_argument("file")
  pr = sub.add_parser("probe")
  pr.add_argument("--workdir", required=True)
  pr.add_argument("--train", required=True)
  pr.add_argument("--test", required=True)
  pr.add_argument("--train-split", default="train")
  pr.add_argument("--test-split", default="test")
  pr.add_argument("--epochs", type=int, default=300)
  a = p.parse_args(argv)
  if a.cmd == "compress":
    out = compress(a.workdir, a.split, a.out)
  elif a.cmd == "decompress":
    z = decompress(a.workdir, a.file, a.out)
    out = {"out": a.out, "shape": list(z.shape)}
  elif a.cmd == "inspect":
    out = inspect(a.file)
  else:
    out = probe(a.workdir, a.train, a.test, a.train_split, a.test_split, a.epochs)
  print(json.dumps(out, indent=1))
  return 0


if __name__ == "__main__":
  sys.exit(main())

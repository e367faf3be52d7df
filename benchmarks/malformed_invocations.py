"""Malformed invocations of the launch scripts: each must fail in one line, in time, writing nothing.

COMMAND: python benchmarks/malformed_invocations.py [--smoke] [--jobs 2] [--timeout_s 30]

Runs `launch/main.py`, `launch/sweep.py` and `launch/codec.py` as a user would (subprocesses from
the repository root) with bad configs, `:arg`s, overrides, field values, feature files, rerun
configs of an existing workdir, sweep flags, codec commands, bitstreams and weights files. Each
case passes when the process

* exits with status 2 within ``--timeout_s`` seconds,
* writes exactly one line on stderr, ``<script>: error: ...``, with no traceback, containing the
  field, file or value the case names,
* leaves the existing workdir byte-identical (and creates no new workdir).

Prints one JSON line per failing case, then one summary line (cases, passed, slowest, wall time).
Exit status 1 if any case failed. ``--smoke`` runs a dozen cases (the test suite's run); the full
run first trains two tiny runs (a contrastive test method and ``configs/digits_vic.py:tiny``) to
have workdirs to rerun and a real compressor to feed bad files.
"""
from __future__ import annotations

import argparse
import concurrent.futures
import glob
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONTRASTIVE = "tests/configs/contrastive.py"


def _snapshot(directory: str) -> dict:
  out = {}
  for path in glob.glob(os.path.join(directory, "**"), recursive=True):
    if os.path.isfile(path):
      with open(path, "rb") as f:
        out[os.path.relpath(path, directory)] = (hashlib.sha256(f.read()).hexdigest(), os.stat(path).st_mtime_ns)
  return out


def _python(args, timeout):
  env = dict(os.environ, JAX_PLATFORMS="cpu", PYTHONUNBUFFERED="1")
  env.pop("LOSSYLESS_VERBOSE", None)
  start = time.time()
  try:
    proc = subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    return proc.returncode, proc.stderr, time.time() - start
  except subprocess.TimeoutExpired:
    return None, "", time.time() - start


def _files(tmp: str) -> dict:
  """Bad input files, generated."""
  rng = np.random.default_rng(0)
  f = {k: os.path.join(tmp, k) for k in ("garbage.bin", "empty.bin", "nolabels.npz", "flat.npz", "mismatch.npz",
                                          "nan.npz", "negative.npz", "text.npz", "fake_workdir")}
  open(f["garbage.bin"], "wb").write(rng.bytes(300))
  open(f["empty.bin"], "wb").close()
  feats = rng.normal(size=(64, 8)).astype(np.float32)
  labels = rng.integers(0, 4, 64)
  np.savez(f["nolabels.npz"], train_features=feats, test_features=feats)
  np.savez(f["flat.npz"], train_features=feats[:, 0], train_labels=labels, test_features=feats[:, 0], test_labels=labels)
  np.savez(f["mismatch.npz"], train_features=feats, train_labels=labels[:50], test_features=feats, test_labels=labels[:50])
  bad = feats.copy()
  bad[3, 2] = np.nan
  np.savez(f["nan.npz"], train_features=bad, train_labels=labels, test_features=bad, test_labels=labels)
  np.savez(f["negative.npz"], train_features=feats, train_labels=-labels - 1, test_features=feats, test_labels=-labels - 1)
  open(f["text.npz"], "w").write("not an npz")
  os.makedirs(f["fake_workdir"])
  open(os.path.join(f["fake_workdir"], "compressor.msgpack"), "wb").write(rng.bytes(100))
  return f


def cases(tmp: str, existing: str, compressor: str | None, smoke: bool) -> list[tuple]:
  """(name, argv, expected substring of the error) of each case."""
  f = _files(tmp)
  new = os.path.join(tmp, "never_created")
  main = ["launch/main.py"]
  rerun = main + [f"--config={CONTRASTIVE}", "--config.num_steps=4", f"--workdir={existing}"]
  c = [
      ("missing config file", main + ["--config=configs/no_such_config.py", f"--workdir={new}"], "no_such_config.py"),
      ("config arg typo", main + ["--config=configs/digits_vic.py:tinny", f"--workdir={new}"], "tinny"),
      ("unknown override", main + ["--config.model.z_dimm=3", f"--workdir={new}"], "config.model.z_dimm"),
      ("ill-typed override", main + ["--config.model.z_dim=abc", f"--workdir={new}"], "config.model.z_dim"),
      ("zero z_dim", main + ["--config.model.z_dim=0", f"--workdir={new}"], "config.model.z_dim"),
      ("negative lambda", main + ["--config.coefs.rate.value=-1.0", f"--workdir={new}"], "config.coefs.rate"),
      ("unknown dataset", main + ["--config.data.name=nope", f"--workdir={new}"], "nope"),
      ("rerun as another method", rerun + ["--config.method=vic"], "method"),
      ("rerun with another size", rerun + ["--config.model.dim=16"], "model.dim"),
      ("sweep missing config", ["launch/sweep.py", "--config=configs/nope.py", "--values=1", f"--workdir={new}"], "nope.py"),
      ("codec unknown command", ["launch/codec.py", "squash"], "squash"),
      ("codec garbage file", ["launch/codec.py", "inspect", f["garbage.bin"]], "bad magic"),
  ]
  if smoke:
    return c
  configs = sorted(os.path.basename(p) for p in glob.glob(os.path.join(ROOT, "configs", "*.py")))
  c += [(f"arg typo {n}", main + [f"--config=configs/{n}:tinny", f"--workdir={new}"], n) for n in configs]
  c += [(f"unknown field {fld}", main + [f"--config.{fld}=1", f"--workdir={new}"], f"config.{fld.split('.')[0]}")
        for fld in ("num_stepz", "model.zdim", "loss.temprature", "data.batchsize", "optim.lr.valu", "coefs.rate.valeu",
                    "modl.z_dim", "model.eval.test_copiez", "checkpoint.evry")]
  c += [(f"bad value {fld}={v}", main + [f"--config.{fld}={v}", f"--workdir={new}"], f"config.{fld.split('.')[0]}")
        for fld, v in (("model.z_dim", -4), ("num_steps", 0), ("log_every", 0), ("data.batch_size", 0),
                       ("data.batch_size", 100000), ("checkpoint.keep", 0), ("model.p_augment", 1.5),
                       ("model.encoder", "vgg"), ("model.rate", "lossless2"), ("loss.likelihood", "poisson"),
                       ("monitor_mode", "maximum"), ("report_on", "first"), ("monitor", "test"),
                       ("monitor", "train/loss"), ("optim.name", "lion"), ("optim.lr.kind", "triangle"),
                       ("method", "nope"), ("data.name", "tfds:no_such_dataset"), ("model.channels", "(32,0)"),
                       ("model.hidden", "(-1,)"), ("loss.init_temperature", 0.0), ("model.augment_order", -1),
                       ("data.eval_batch_size", -1), ("optim.accumulate_steps", 0), ("eval_every", -5))]
  c += [(f"ill-typed {fld}", main + [f"--config.{fld}={v}", f"--workdir={new}"], f"config.{fld}")
        for fld, v in (("num_steps", "many"), ("seed", "1.5"), ("coefs.rate.value", "big"), ("model.z_dim", "[3]"))]
  c += [("extra argument", main + ["train", f"--workdir={new}"], "train"),
        ("config dir, not file", main + ["--config=configs", f"--workdir={new}"], "configs"),
        ("config not python", main + [f"--config={f['garbage.bin']}", f"--workdir={new}"], "garbage.bin")]
  clip = lambda path: main + [f"--config=configs/clip_features.py:{path}", f"--workdir={new}"]
  c += [("npz missing", clip(os.path.join(tmp, "absent.npz")), "absent.npz"),
        ("npz without labels", clip(f["nolabels.npz"]), "labels"),
        ("npz 1-D features", clip(f["flat.npz"]), "flat.npz"),
        ("npz length mismatch", clip(f["mismatch.npz"]), "mismatch.npz"),
        ("npz NaN", clip(f["nan.npz"]), "nan.npz"),
        ("npz negative labels", clip(f["negative.npz"]), "negative.npz"),
        ("npz not an npz", clip(f["text.npz"]), "text.npz")]
  c += [(f"rerun changing {fld}", rerun + [f"--config.{fld}={v}"], fld)
        for fld, v in (("seed", 1), ("data.seed", 2), ("data.batch_size", 16), ("optim.lr.value", 0.5),
                       ("optim.name", "sgd"), ("loss.temperature", 0.2), ("loss.noise", 0.3), ("data.name", "banana"),
                       ("monitor", "test/examples"), ("data.image_size", 8))]
  c += [("rerun shortened", main + [f"--config={CONTRASTIVE}", "--config.num_steps=2", f"--workdir={existing}"], "num_steps")]
  sweep = ["launch/sweep.py", f"--workdir={new}"]
  c += [("sweep bad value", sweep + ["--config=configs/banana_vic.py:tiny", "--values=0.1,big"], "big"),
        ("sweep negative value", sweep + ["--config=configs/banana_vic.py:tiny", "--values=-1"], "config.coefs.rate"),
        ("sweep unknown field", sweep + ["--config=configs/banana_vic.py:tiny", "--values=1", "--field=coefs.nope.value"], "coefs.nope"),
        ("sweep bad seeds", sweep + ["--config=configs/banana_vic.py:tiny", "--values=1", "--seeds=a"], "--seeds"),
        ("sweep arg typo", sweep + ["--config=configs/banana_vic.py:tinny", "--values=1"], "tinny"),
        ("sweep second config missing", sweep + ["--config=configs/banana_vic.py:tiny,configs/nope.py", "--values=1"], "nope.py"),
        ("sweep missing values", ["launch/sweep.py", "--config=configs/banana_vic.py", f"--workdir={new}"], "--values"),
        ("sweep missing workdir", ["launch/sweep.py", "--config=configs/banana_vic.py", "--values=1"], "--workdir"),
        ("sweep extra argument", sweep + ["--config=configs/banana_vic.py:tiny", "--values=1", "now"], "now"),
        ("sweep unknown flag", sweep + ["--config=configs/banana_vic.py:tiny", "--values=1", "--valuez=2"], "valuez")]
  codec = ["launch/codec.py"]
  c += [("codec no command", codec, "command"),
        ("codec inspect missing", codec + ["inspect", os.path.join(tmp, "absent.ljxb")], "absent.ljxb"),
        ("codec inspect empty", codec + ["inspect", f["empty.bin"]], "bytes"),
        ("codec inspect two files", codec + ["inspect", f["empty.bin"], f["garbage.bin"]], "inspect"),
        ("codec decompress no flags", codec + ["decompress"], "--workdir"),
        ("codec decompress no workdir", codec + ["decompress", f"--workdir={os.path.join(tmp, 'absent')}",
                                                 f"--file={f['garbage.bin']}", f"--out={tmp}/o.npz"], "compressor.msgpack"),
        ("codec decompress garbled weights", codec + ["decompress", f"--workdir={f['fake_workdir']}",
                                                      f"--file={f['garbage.bin']}", f"--out={tmp}/o.npz"], "compressor.msgpack"),
        ("codec compress no out", codec + ["compress", f"--workdir={f['fake_workdir']}"], "--out"),
        ("codec probe no files", codec + ["probe", f"--workdir={f['fake_workdir']}"], "--train"),
        ("codec unknown flag", codec + ["inspect", f["garbage.bin"], "--fast"], "fast")]
  if compressor:
    good = glob.glob(os.path.join(compressor, "*.ljxb"))[0]
    data = open(good, "rb").read()
    for name, blob in (("truncated", data[: len(data) // 2]), ("flipped", data[:40] + bytes([data[40] ^ 1]) + data[41:]),
                       ("appended", data + b"\0"), ("garbage", f["garbage.bin"])):
      path = blob if isinstance(blob, str) else os.path.join(tmp, f"{name}.ljxb")
      if not isinstance(blob, str):
        open(path, "wb").write(blob)
      c.append((f"codec decompress {name} bitstream", codec + ["decompress", f"--workdir={compressor}", f"--file={path}",
                                                                f"--out={tmp}/o.npz"], "reason"))
    c.append(("codec compress unknown split", codec + ["compress", f"--workdir={compressor}", "--split=nope",
                                                        f"--out={tmp}/o.ljxb"], "nope"))
  return c


def check(index, case, existing, timeout):
  name, args, expected = case
  new = os.path.join(os.path.dirname(existing), "never_created")
  mine = f"{new}_{index}"  # each case its own would-be workdir
  args = [a.replace(new, mine) for a in args]
  before = _snapshot(existing)
  code, err, seconds = _python(args, timeout)
  lines = [l for l in err.splitlines() if l.strip()]
  script = os.path.basename(args[0])
  problems = []
  if code != 2:
    problems.append(f"exit status {code}")
  if len(lines) != 1 or not lines[0].startswith(f"{script}: error: "):
    problems.append(f"stderr is not one error line: {lines[-3:]}")
  elif expected not in lines[0]:
    problems.append(f"message does not name {expected!r}")
  if "Traceback" in err:
    problems.append("traceback")
  if _snapshot(existing) != before:
    problems.append("the existing workdir changed")
  if os.path.exists(mine):
    problems.append("created the new workdir")
  return {"case": name, "seconds": round(seconds, 2), "ok": not problems, "problems": problems,
          "message": lines[-1] if lines else ""}


def main():
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--smoke", action="store_true", help="a dozen cases (the test suite's run)")
  p.add_argument("--jobs", type=int, default=2)
  p.add_argument("--timeout_s", type=float, default=30.0)
  args = p.parse_args()
  start = time.time()
  with tempfile.TemporaryDirectory() as tmp:
    existing = os.path.join(tmp, "existing")
    code, err, _ = _python(["launch/main.py", f"--config={CONTRASTIVE}", "--config.num_steps=4",
                            f"--workdir={existing}"], 300)
    if code != 0:
      raise SystemExit(f"could not train the workdir to rerun: {err[-2000:]}")
    compressor = None
    if not args.smoke:
      compressor = os.path.join(tmp, "digits")
      code, err, _ = _python(["launch/main.py", "--config=configs/digits_vic.py:tiny", f"--workdir={compressor}"], 600)
      code2, err2, _ = _python(["launch/codec.py", "compress", f"--workdir={compressor}", "--split=test",
                                f"--out={compressor}/test.ljxb"], 300)
      if code or code2:
        raise SystemExit(f"could not train the compressor: {(err + err2)[-2000:]}")
    todo = cases(tmp, existing, compressor, args.smoke)
    with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
      results = list(pool.map(lambda ic: check(*ic, existing, args.timeout_s), enumerate(todo)))
  for r in results:
    if not r["ok"]:
      print(json.dumps(r), flush=True)
  slowest = max(results, key=lambda r: r["seconds"])
  print(json.dumps({"cases": len(results), "passed": sum(r["ok"] for r in results),
                    "slowest": [slowest["case"], slowest["seconds"]], "wall_s": round(time.time() - start, 1)}))
  sys.exit(0 if all(r["ok"] for r in results) else 1)


if __name__ == "__main__":
  main()

"""Summarises digits λ sweeps of the invariant compressors: bits, accuracy and the classical ratio.

Sweep (plain runs of `launch/main.py`; `model.eval.cache_dir` shares the classical and
uncompressed rows between the runs):

  for m_l in vic:0.1 vic:0.3 vic:0.35 vic:0.4 vic:0.5 vic:1 vc:0.001 vc:0.01 bince:20 bince:40; do
    m=${m_l%%:*}; l=${m_l#*:}
    python launch/main.py --config=configs/digits_$m.py --workdir=workdirs/sweep_${m}_l$l \\
        --config.coefs.rate.value=$l --config.model.eval.cache_dir=workdirs/sweep_cache
  done
  python benchmarks/lossyless_digits.py workdirs/sweep_*

Prints one row per workdir (method, λ, steps, estimated / coded bits per image, `probe_accuracy`
= the test accuracy of the probe chosen on validation, `uncompressed_accuracy`, the classical
ratio (* when no codec setting comes within 2 points: the ratio to the most accurate one), the
coded-within-2 % flag), then every (VIC, VC) and (BINCE, VC) pair whose `probe_accuracy` differ
by at most 1 point, with VC's coded bits over the other's.

`python benchmarks/lossyless_digits.py --smoke` (the test suite) tabulates a generated folder
instead: one workdir per row of `SMOKE_RUNS`, each with the `config.json` of the real digits
config at that λ and a `report.json` of made-up figures whose classical fields come from
`report.classical_reference`, plus one workdir without a report (skipped).
"""
from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# (config, λ, estimated bits, coded bits, probe validation / test accuracy, with classical rows)
SMOKE_RUNS = [
    ("digits_vic", 0.1, 170.0, 173.9, 0.935, 0.930, True),
    ("digits_vic", 1.0, 41.0, 43.5, 0.805, 0.800, True),
    ("digits_vc", 0.01, 402.0, 406.1, 0.930, 0.925, True),
    ("digits_bince", 20.0, 30.5, 33.5, 0.895, 0.900, False),
    ("digits_supervised", 0.1, 12.0, 14.2, 0.985, 0.980, True),
]
# classical rows (codec, quality, bits per image, validation / test accuracy) for the reference
SMOKE_CLASSICAL = [("png", 9, 2298.0, 0.96, 0.955), ("jpeg", 5, 1050.0, 0.90, 0.895), ("webp", 0, 640.0, 0.70, 0.69)]


def load(workdir: str) -> dict | None:
  """report.json + λ and steps from config.json; None when the run has no report yet."""
  try:
    with open(os.path.join(workdir, "report.json")) as f:
      r = json.load(f)
    with open(os.path.join(workdir, "config.json")) as f:
      c = json.load(f)
  except FileNotFoundError:
    return None
  sup = c["loss"].get("equivalence") == "label"
  return {**r, "workdir": workdir, "lmbda": c["coefs"]["rate"]["value"], "z_dim": c["model"]["z_dim"],
          "label": r["method"] + ("-sup" if sup else "")}


def main(workdirs):
  runs = [r for r in map(load, workdirs) if r is not None]
  runs.sort(key=lambda r: (r["label"], r["lmbda"]))
  print(f"{'method':<10}{'λ':>8}{'z':>4}{'steps':>6}{'est':>8}{'coded':>8}{'probe':>8}{'uncomp':>8}"
        f"{'classical ratio':>22}{'2%':>6}  workdir")
  for r in runs:
    ratio = (f"{r['classical_over_coded_ratio']:.1f}× {r['classical_reference']}"
             + ("" if r["classical_within_2pts"] else "*") if "classical_reference" in r else "-")
    print(f"{r['label']:<10}{r['lmbda']:>8g}{r['z_dim']:>4}{r['steps']:>6}{r['bits_per_image_estimated']:>8.1f}"
          f"{r['bits_per_image_coded']:>8.1f}{r['probe_accuracy']:>8.4f}"
          f"{r.get('uncompressed_accuracy', float('nan')):>8.4f}{ratio:>22}"
          f"{str(r['coded_within_2pct_plus_header']):>6}  {r['workdir']}")
  print("\npairs with |Δ probe_accuracy| <= 1 point (VC coded bits / other's coded bits)")
  vc = [r for r in runs if r["label"] == "vc"]
  for r, v in itertools.product([r for r in runs if r["label"] in ("vic", "bince")], vc):
    if abs(r["probe_accuracy"] - v["probe_accuracy"]) <= 0.01:
      print(f"  {r['label']} λ={r['lmbda']:g} ({r['bits_per_image_coded']:.1f} bits, {r['probe_accuracy']:.4f})"
            f" vs vc λ={v['lmbda']:g} ({v['bits_per_image_coded']:.1f} bits, {v['probe_accuracy']:.4f}):"
            f" {v['bits_per_image_coded'] / r['bits_per_image_coded']:.2f}×")


def write_smoke_runs(folder: str) -> list[str]:
  """Writes the `SMOKE_RUNS` workdirs (and one unfinished one) under `folder`; returns them."""
  from lossyless_jax import config as config_lib, logging as log_lib  # noqa: PLC0415
  from lossyless_jax.methods.lossyless import report  # noqa: PLC0415

  classical = [{"codec": k, "quality": q, "bits_per_image": b, "payload_bits_per_image": b - 400.0,
                "validation_accuracy": va, "accuracy": ta} for k, q, b, va, ta in SMOKE_CLASSICAL]
  workdirs = []
  for name, lmbda, est, coded, val_acc, acc, with_classical in SMOKE_RUNS + [("digits_vic", 0.5, *[None] * 5)]:
    c = config_lib.load(f"configs/{name}.py")
    c.coefs.rate.value = lmbda
    workdir = os.path.join(folder, f"{name}_l{lmbda:g}" + ("" if est else "_unfinished"))
    os.makedirs(workdir)
    log_lib.write_json(os.path.join(workdir, "config.json"), c.to_dict())
    workdirs.append(workdir)
    if est is None:
      continue
    out = {"method": c.method, "steps": c.num_steps, "bits_per_image_estimated": est, "bits_per_image_coded": coded,
           "bits_per_image_coded_payload": coded - 2.0, "probe_validation_accuracy": val_acc,
           "probe_accuracy": acc, "uncompressed_accuracy": 0.97,
           "coded_within_2pct_plus_header": abs(coded - est) <= 0.02 * est + 2.0}
    if with_classical:
      out.update(report.classical_reference(classical, out))
    log_lib.write_json(os.path.join(workdir, "report.json"), out)
  return workdirs


if __name__ == "__main__":
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("workdirs", nargs="*", metavar="WORKDIR")
  parser.add_argument("--smoke", action="store_true", help="tabulate a generated folder (for the test suite)")
  args = parser.parse_args()
  if args.smoke:
    with tempfile.TemporaryDirectory(prefix="lossyless_digits_smoke_") as tmp:
      main(write_smoke_runs(tmp))
  elif not args.workdirs:
    parser.error("give WORKDIR [WORKDIR ...] or --smoke")
  else:
    main(args.workdirs)

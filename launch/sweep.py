"""λ sweep: `python launch/sweep.py --config=C.py[:arg] --values=V1,V2 [--field=F] [--seeds=0,1] --workdir=DIR`.

Runs `train.train_and_eval` for every config × value × seed into
`DIR/<field>=<value>/seed=<s>` (`DIR/<config name>/<field>=<value>/seed=<s>` with several configs:
`--config` repeated or a comma list); finished runs are resumed (their stored report is read
back). Then writes `DIR/sweep.json` (one row per run: rate, coded bits, distortion, accuracy; per
config the AURD mean ± standard error over seeds, `evaluation.rd_curves.aurd_over_seeds`) and
`DIR/rd_curve.png` (configs overlaid), and prints a table with each config's AURD.

Axes of the RD curve (paper Sec. 5.1, App. E.1/E.3): rate = estimated bits −log2 q(ẑ) per example;
distortion = the report's `distortion` (converted with `0.5·log2(2πe·MSE)` when the report says
`distortion_is_mse`, as the authors' code does for Banana), else the probe error `1 − probe_accuracy`.
With several configs, `aurd_common` also integrates every curve over the distortion interval that
all of them cover (not in the paper; it removes the effect of different spans).

Gray-Wyner runs (reports with `Rt`, Gray-Wyner paper §4): rows hold `R0, R1, R2, Rt, Rr` and the
distortion `D1 + D2` (`evaluation.gray_wyner_rd`); `sweep.json` gets the BD-rates of every codec's
`Rt` and `Rr` against each other codec present (the paper's anchors: Joint for `Rt`, Independent for
`Rr`), and `rd_curve.png` the Rt / Rr panels, with the theoretical Joint and Independent curves for
the synthetic source. A Gray-Wyner sweep over codecs lists one config per codec:
`--config=configs/gray_wyner_synthetic.py:shared,1.5 --config=configs/gray_wyner_synthetic.py:joint`.
"""
import json
import os
import sys

import numpy as np
from absl import app, flags

import common
from lossyless_jax import config as config_lib
from lossyless_jax.evaluation import gray_wyner_rd, infomax_sweep, rd_curves

_CONFIG = flags.DEFINE_multi_string("config", None, "Config file(s) configs/<name>.py[:arg]; repeat or comma-separate.")
_VALUES = flags.DEFINE_list("values", None, "Values of --field to sweep, e.g. 0.01,0.1,1.")
_FIELD = flags.DEFINE_string("field", "coefs.rate.value", "Dotted config field to sweep (default λ on the rate).")
_SEEDS = flags.DEFINE_list("seeds", ["0"], "Seeds (config.seed and config.data.seed).")
_WORKDIR = flags.DEFINE_string("workdir", None, "Sweep directory (runs, sweep.json, rd_curve.png).")
flags.mark_flags_as_required(["config", "values", "workdir"])


def _parse(text: str, old, field: str):
  """`text` as the type of the field's current value `old`."""
  if isinstance(old, bool):
    if text.lower() not in ("true", "false", "1", "0"):
      raise config_lib.ConfigError(f"--values: {text!r} is not a boolean (field {field})")
    return text.lower() in ("true", "1")
  kind = type(old) if isinstance(old, (int, float, str)) else float
  try:
    return kind(text)
  except ValueError:
    raise config_lib.ConfigError(f"--values: {text!r} is not a {kind.__name__} (field {field} is "
                                 f"{old!r})") from None


def split_configs(items: list[str]) -> list[str]:
  """``--config`` values split at the commas that start another config file (a config's own arg
  may hold commas: ``configs/gray_wyner_synthetic.py:shared,1.5``)."""
  paths = []
  for item in items:
    for piece in item.split(","):
      if paths and piece and ".py" not in piece:
        paths[-1] += "," + piece  # part of the previous config's arg
      elif piece:
        paths.append(piece)
  return paths


def run_config(path: str, field: str, value: str, seed: int):
  """The config of one run: `path` loaded as launch/main.py does, `field` = `value`, seeds = `seed`."""
  config = common.load_config(path)
  try:
    config_lib.check_field(config, field)
  except config_lib.ConfigError as e:
    raise config_lib.ConfigError(f"--field: {path}: {e}") from None
  node = config
  for part in field.split("."):
    node = node[part]
  config.update_from_flattened_dict({field: _parse(value, node, field), "seed": seed, "data.seed": seed})
  return config


def _distortion(report: dict, path: str):
  """(distortion, is_mse) of one report (see module doc)."""
  if "distortion" in report:
    return float(report["distortion"]), bool(report.get("distortion_is_mse", False))
  if "probe_accuracy" in report:
    return 1.0 - float(report["probe_accuracy"]), False
  raise KeyError(f"{path}: the report has neither 'distortion' nor 'probe_accuracy'")


def _x(distortions, is_mse: bool) -> np.ndarray:
  """The RD curve's x axis: 0.5·log2(2πe·MSE) bits for MSEs, else the distortion itself."""
  d = np.asarray(distortions, np.float64)
  return rd_curves.mse_to_bits(d) if is_mse else d


def _curves(rows: list[dict], name: str) -> tuple[list[int], list]:
  """Seeds of config `name` and, per seed, its curve (distortions, rates)."""
  mine = [r for r in rows if r["config"] == name]
  seeds = sorted({r["seed"] for r in mine})
  return seeds, [([r["distortion"] for r in mine if r["seed"] == s], [r["rate_bits"] for r in mine if r["seed"] == s])
                 for s in seeds]


def summarize(rows: list[dict]) -> dict:
  """Per config: AURD mean ± s.e. over seeds (one RD curve per seed); with several configs also
  `aurd_common_*` over the distortion interval that every curve covers."""
  kinds = {r["distortion_is_mse"] for r in rows}
  if len(kinds) != 1:
    raise ValueError("the runs' reports disagree on whether the distortion is an MSE; sweep them separately")
  is_mse = kinds.pop()
  curves = {name: _curves(rows, name) for name in dict.fromkeys(r["config"] for r in rows)}
  xs = [_x(d, is_mse) for _, cs in curves.values() for d, _ in cs]
  lo, hi = max(float(x.min()) for x in xs), min(float(x.max()) for x in xs)
  out = {}
  for name, (seeds, cs) in curves.items():
    res = rd_curves.aurd_over_seeds(cs, distortion_is_mse=is_mse)
    out[name] = {"aurd_mean": res["aurd_mean"], "aurd_sem": res["aurd_sem"],
                 "aurd_per_seed": [float(a) for a in res["aurd_per_seed"]], "seeds": seeds}
    if len(curves) > 1 and lo < hi:
      res = rd_curves.aurd_over_seeds(cs, distortion_is_mse=is_mse, distortion_range=(lo, hi))
      out[name].update(aurd_common_mean=res["aurd_mean"], aurd_common_sem=res["aurd_sem"], common_range=[lo, hi])
  return out


def plot(rows: list[dict], summary: dict, path: str) -> str:
  """Rate vs distortion per config: mean over seeds per value (± s.e. bars), seeds faint."""
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  mse = rows[0]["distortion_is_mse"]
  fig, ax = plt.subplots(figsize=(6, 4.5))
  for i, name in enumerate(summary):
    mine = [r for r in rows if r["config"] == name]
    colour = f"C{i}"
    for s in summary[name]["seeds"]:
      seed_rows = sorted((r for r in mine if r["seed"] == s), key=lambda r: r["distortion"])
      ax.plot(_x([r["distortion"] for r in seed_rows], mse), [r["rate_bits"] for r in seed_rows],
              color=colour, alpha=0.25, lw=0.8)
    values = list(dict.fromkeys(r["value"] for r in mine))
    xs = [_x([r["distortion"] for r in mine if r["value"] == v], mse) for v in values]
    ys = [np.array([r["rate_bits"] for r in mine if r["value"] == v]) for v in values]
    sem = lambda a: a.std(ddof=1) / np.sqrt(len(a)) if len(a) > 1 else 0.0
    res = summary[name]
    ax.errorbar([x.mean() for x in xs], [y.mean() for y in ys], xerr=[sem(x) for x in xs],
                yerr=[sem(y) for y in ys], color=colour, marker="o", ms=4, lw=1.5, capsize=2,
                label=f"{name}: AURD {res['aurd_mean']:.3g} ± {res['aurd_sem']:.2g}")
  ax.set_xlabel("distortion: 0.5·log2(2πe·MSE) [bits]" if mse else "distortion: probe error")
  ax.set_ylabel("rate [bits] (estimated)")
  ax.legend(fontsize=8)
  ax.grid(alpha=0.3)
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)
  return path


def table(summary: dict) -> str:
  lines = [f"{'config':<24}{'AURD (mean ± s.e.)':>24}{'common-range AURD':>24}  seeds"]
  for name, res in summary.items():
    common = f"{res['aurd_common_mean']:.4g} ± {res['aurd_common_sem']:.2g}" if "aurd_common_mean" in res else "-"
    lines.append(f"{name:<24}{res['aurd_mean']:>14.4g} ± {res['aurd_sem']:<7.2g}{common:>24}  {len(res['seeds'])}")
  return "\n".join(lines)


def gray_wyner_summary(reports: list[dict], workdir: str, theory=None) -> dict:
  """BD-rates of every codec against every other (Rt and Rr) and the Rt / Rr plot."""
  curves = gray_wyner_rd.curves(reports)
  cityscapes = all("miou" in r for r in reports)
  out = {"codecs": sorted(curves), "rd_curve": gray_wyner_rd.plot(
    os.path.join(workdir, "rd_curve.png"), curves, rate_unit=reports[0].get("rate_unit", "bits per pixel"),
    theory=theory, uncompressed=gray_wyner_rd.CITYSCAPES_UNCOMPRESSED if cityscapes else None)}
  for anchor in curves:
    for rate in ("Rt", "Rr"):
      out[f"bd_rate_{rate}_vs_{anchor}"] = gray_wyner_rd.bd_rates(curves, anchor, rate)
  return out


def _gray_wyner_theory(config):
  if config.data.name != "gray_wyner_synthetic":
    return None
  from lossyless_jax.data import gray_wyner_synthetic
  from lossyless_jax.evaluation import gray_wyner_theory
  side = int(config.data.options.get("side", 64))
  return gray_wyner_theory.theoretical_curves(gray_wyner_synthetic.source_of_side(side))


def gray_wyner_table(summary: dict) -> str:
  lines = []
  for key, values in summary.items():
    if key.startswith("bd_rate_") and values:
      lines.append(f"{key:<28}" + "  ".join(f"{c} {v:+.1f}%" for c, v in sorted(values.items())))
  return "\n".join(lines)


def sweep(paths: list[str], values: list[str], field: str, seeds: list[int], workdir: str) -> dict:
  """Runs (or resumes) the sweep and writes `sweep.json` and `rd_curve.png` in `workdir`."""
  from tqdm.auto import tqdm
  from lossyless_jax import train
  names = [common.run_name(p) for p in paths]
  if len(set(names)) != len(names):
    raise config_lib.ConfigError(f"--config: two configs share a run name: {names}")
  # seed-major, then value, then config: an interrupted sweep holds comparable curves
  jobs = [(p, n, v, s) for s in seeds for v in values for p, n in zip(paths, names)]
  rows, gw_reports, theory = [], [], None
  infomax_rows = []  # noise-injected DIM runs (reports with capacity_nats)
  bar = tqdm(jobs, unit="run", dynamic_ncols=True, file=sys.stdout)
  for path, name, value, seed in bar:
    bar.set_postfix_str(f"{name} {field}={value} seed={seed}")
    run_dir = os.path.join(workdir, *([name] if len(paths) > 1 else []), f"{field}={value}", f"seed={seed}")
    config = run_config(path, field, value, seed)
    report = train.train_and_eval(config, run_dir)
    if "Rt" in report:  # a Gray-Wyner run
      gw_reports.append(report)
      rows.append({"config": name, "value": value, "seed": seed, "workdir": run_dir, "codec": report["codec"],
                   "distortion": gray_wyner_rd.distortion(report),
                   **{k: float(report[k]) for k in gray_wyner_rd.RATE_KEYS}})
      theory = theory if theory is not None else _gray_wyner_theory(config)
      continue
    if "capacity_nats" in report:
      infomax_rows.append(infomax_sweep.row(report, seed, run_dir))
      continue
    distortion, is_mse = _distortion(report, run_dir)
    rows.append({"config": name, "value": value, "seed": seed, "workdir": run_dir,
                 "rate_bits": float(report["bits_per_image_estimated"]),
                 "coded_bits": float(report["bits_per_image_coded"]),
                 "distortion": distortion, "distortion_is_mse": is_mse,
                 "accuracy": report.get("probe_accuracy"), "ring_score": report.get("ring_score")})
  bar.close()
  if infomax_rows:
    if len(infomax_rows) != len(jobs):
      raise ValueError("a sweep mixes noise-injected DIM and other runs; sweep them separately")
    result = infomax_sweep.write(infomax_rows, workdir, field=field, values=values, seeds=seeds)
    print(infomax_sweep.table(result["summary"]), flush=True)
    return result
  if gw_reports:
    if len(gw_reports) != len(rows):
      raise ValueError("a sweep mixes Gray-Wyner and other runs; sweep them separately")
    summary = gray_wyner_summary(gw_reports, workdir, theory)
    result = {"field": field, "values": values, "seeds": seeds, "gray_wyner": summary, "rows": rows,
              "rd_curve": summary["rd_curve"]}
    with open(os.path.join(workdir, "sweep.json"), "w") as f:
      json.dump(result, f, indent=1)
    print(gray_wyner_table(summary), flush=True)
    return result
  summary = summarize(rows)
  result = {"field": field, "values": values, "seeds": seeds, "configs": summary, "rows": rows,
            "rd_curve": plot(rows, summary, os.path.join(workdir, "rd_curve.png"))}
  with open(os.path.join(workdir, "sweep.json"), "w") as f:
    json.dump(result, f, indent=1)
  print(table(summary), flush=True)
  return result


def main(argv):
  common.quiet_libraries()
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  paths = split_configs(_CONFIG.value)
  try:
    seeds = [int(s) for s in _SEEDS.value]
  except ValueError:
    raise config_lib.ConfigError(f"--seeds: {','.join(_SEEDS.value)}; expected integers") from None
  from lossyless_jax import train
  for path in paths:  # every config and value is checked before anything runs or is written
    for value in _VALUES.value:
      train.check(run_config(path, _FIELD.value, value, 0))
  os.makedirs(_WORKDIR.value, exist_ok=True)
  sweep(paths, _VALUES.value, _FIELD.value, seeds, _WORKDIR.value)


if __name__ == "__main__":
  common.run(main, __doc__)

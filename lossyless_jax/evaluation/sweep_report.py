"""A sweep's runs as the papers' tables and plots (shared by `launch/sweep.py` and `launch/report.py`).

Runs are collected from their workdirs (``report.json``, ``config.json``; names and grid points from
the sweep's ``runs.jsonl`` when there is one, else from the workdir layout of `lossyless_jax.sweeps`)
and summarised by kind of report:

- invariant compression (Dubois et al., Sec. 5.1, App. E.1/E.3): rate–distortion curves, one per
  seed, with their AURD (`rd_curves.aurd_over_seeds`). Rate = estimated bits −log2 q(ẑ) per example;
  distortion = the report's ``distortion`` (as ``0.5·log2(2πe·MSE)`` bits when ``distortion_is_mse``,
  as the authors' code does for Banana), else the probe error ``1 − probe_accuracy``. With several
  configs, ``aurd_common_*`` integrates every curve over the distortion interval all of them cover
  (not in the paper: it removes the effect of different spans);
- Gray-Wyner (reports with ``Rt``, Gray-Wyner paper §4): BD-rates of every codec's ``Rt`` and ``Rr``
  against each other codec (the paper's anchors: Joint for ``Rt``, Independent for ``Rr``) and the
  Rt / Rr panels, with the theoretical Joint and Independent curves of the synthetic source;
- noise-injected InfoMax (reports with ``capacity_nats``): the capacity sweep (`infomax_sweep`);
- NERD (reports with ``R_bits``/``D``, Yang & Mandt §IV): the estimated R(D) curves, with the closed
  form R(D̂) where the source has one, and the gap of a compressor's operating points to them;
- every kind: one row per run and, per grid point, mean ± confidence interval over seeds.
"""
from __future__ import annotations

import csv
import dataclasses
import json
import os
from typing import Sequence

import numpy as np

from lossyless_jax import plotting, sweeps
from lossyless_jax.evaluation import gray_wyner_rd, infomax_sweep, rd_curves, seeds as seeds_lib


@dataclasses.dataclass
class Entry:
  """One finished run: its sweep coordinates, ``report.json`` and ``config.json``."""
  name: str
  point: str
  seed: int | None
  workdir: str
  report: dict
  config: dict


def _load(path: str):
  with open(path) as f:
    return json.load(f)


def _from_layout(root: str, workdir: str, config: dict) -> tuple[str, str, int | None]:
  """(name, point, seed) of a run from the sweep layout ``[<name>/][<point>/][seed=<s>]`` (a point has
  ``=`` in its name; the name defaults to the root folder's)."""
  parts = [p for p in os.path.relpath(workdir, root).split(os.sep) if p != "."]
  seed = config.get("seed")
  if parts and parts[-1].startswith("seed="):
    seed = int(parts.pop()[len("seed="):])
  point = parts.pop() if parts and "=" in parts[-1] else "base"
  name = "/".join(parts) or os.path.basename(os.path.normpath(root))
  return name, point, seed


def collect(dirs: Sequence[str]) -> list[Entry]:
  """Every finished run under ``dirs``: a sweep's listed runs in their order, then any other
  workdir with a ``report.json`` (a folder of runs without ``runs.jsonl``)."""
  entries, seen = [], set()
  for root in dirs:
    if not os.path.isdir(root):
      raise FileNotFoundError(f"{root}: no such directory")
    for run in sweeps.read_manifest(root):
      if sweeps.finished(run):
        cfg = os.path.join(run.workdir, "config.json")
        entries.append(Entry(run.name, run.point, run.seed, run.workdir, _load(os.path.join(run.workdir, sweeps.REPORT)),
                             _load(cfg) if os.path.exists(cfg) else {}))
        seen.add(os.path.abspath(run.workdir))
    for here, subdirs, files in os.walk(root):
      subdirs.sort()
      if sweeps.REPORT not in files or os.path.abspath(here) in seen:
        continue
      cfg = os.path.join(here, "config.json")
      config = _load(cfg) if os.path.exists(cfg) else {}
      entries.append(Entry(*_from_layout(root, here, config), here, _load(os.path.join(here, sweeps.REPORT)), config))
      seen.add(os.path.abspath(here))
  return entries


def kind(report: dict) -> str:
  """``gray_wyner`` | ``infomax`` | ``nerd`` | ``rd`` (an invariant compressor) | ``other``."""
  if "Rt" in report:
    return "gray_wyner"
  if "capacity_nats" in report:
    return "infomax"
  if "R_bits" in report and "D" in report:
    return "nerd"
  if "bits_per_image_estimated" in report:
    return "rd"
  return "other"


# --------------------------------------------------------------------------------- rate–distortion

def _distortion(report: dict, path: str):
  """(distortion, is_mse) of one invariant-compression report (see the module doc)."""
  if "distortion" in report:
    return float(report["distortion"]), bool(report.get("distortion_is_mse", False))
  if "probe_accuracy" in report:
    return 1.0 - float(report["probe_accuracy"]), False
  raise KeyError(f"{path}: the report has neither 'distortion' nor 'probe_accuracy'")


def point_value(point: str) -> str:
  """A one-field grid point's value (``coefs.rate.value=0.1`` -> ``0.1``), else the point itself."""
  return point.split("=", 1)[1] if point.count("=") == 1 and "," not in point else point


def rd_row(e: Entry) -> dict:
  distortion, is_mse = _distortion(e.report, e.workdir)
  value = point_value(e.point)
  return {"config": e.name, "value": value, "field": e.point.split("=", 1)[0] if value != e.point else "",
          "seed": e.seed, "workdir": e.workdir, "rate_bits": float(e.report["bits_per_image_estimated"]),
          "coded_bits": float(e.report["bits_per_image_coded"]),
          "distortion": distortion, "distortion_is_mse": is_mse,
          "accuracy": e.report.get("probe_accuracy"), "ring_score": e.report.get("ring_score")}


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


def _ordered(values) -> list:
  """Grid values in numeric order when they are all numbers (``1e-05`` before ``0.0001``), else as given."""
  values = list(values)
  try:
    return sorted(values, key=float)
  except (TypeError, ValueError):
    return values


def plot(rows: list[dict], summary: dict, path: str) -> str:
  """Rate vs distortion per config: mean over seeds per grid point (± s.e. bars), seeds faint."""
  mse = rows[0]["distortion_is_mse"]
  fig, ax = plotting.subplots(figsize=(6, 4.5))
  for i, name in enumerate(summary):
    mine = [r for r in rows if r["config"] == name]
    colour = f"C{i}"
    for s in summary[name]["seeds"]:
      seed_rows = sorted((r for r in mine if r["seed"] == s), key=lambda r: r["distortion"])
      ax.plot(_x([r["distortion"] for r in seed_rows], mse), [r["rate_bits"] for r in seed_rows],
              color=colour, alpha=0.25, lw=0.8)
    values = _ordered(dict.fromkeys(r["value"] for r in mine))
    xs = [_x([r["distortion"] for r in mine if r["value"] == v], mse) for v in values]
    ys = [np.array([r["rate_bits"] for r in mine if r["value"] == v]) for v in values]
    sem = lambda a: a.std(ddof=1) / np.sqrt(len(a)) if len(a) > 1 else 0.0
    res = summary[name]
    ax.errorbar([x.mean() for x in xs], [y.mean() for y in ys], xerr=[sem(x) for x in xs],
                yerr=[sem(y) for y in ys], color=colour, marker="o", ms=4, lw=1.5, capsize=2,
                label=f"{name}: AURD {seeds_lib.show(res['aurd_mean'], res['aurd_sem'], len(res['seeds']), '.3g')}")
    for v, x, y in zip(values, xs, ys):
      ax.annotate(v, (float(x.mean()), float(y.mean())), fontsize=6, color=colour, xytext=(3, 3),
                  textcoords="offset points")
  ax.set_xlabel("distortion: 0.5·log2(2πe·MSE) [bits]" if mse else "distortion: probe error")
  ax.set_ylabel("rate [bits] (estimated)")
  fields = sorted({r.get("field") for r in rows} - {"", None})
  ax.set_title("mean over seeds per grid point" + (f", labelled with its {', '.join(fields)}" if fields else ""),
               fontsize=9)
  ax.legend(fontsize=8)
  ax.grid(alpha=0.3)
  return plotting.save(fig, path)


def bd_rates(rows: list[dict], anchor: str) -> dict:
  """BD-rate (%) of every config's curve against config ``anchor``'s at equal distortion
  (`rd_curves.bd_rate`, quality = −distortion on the AURD's x axis; points averaged over seeds per
  grid point, the cheapest kept where distortions tie, e.g. at zero rate); None where the curves do
  not overlap or a rate is not positive."""
  is_mse = rows[0]["distortion_is_mse"]

  def curve(name):
    mine = [r for r in rows if r["config"] == name]
    values = list(dict.fromkeys(r["value"] for r in mine))
    x = [float(np.mean(_x([r["distortion"] for r in mine if r["value"] == v], is_mse))) for v in values]
    y = [float(np.mean([r["rate_bits"] for r in mine if r["value"] == v])) for v in values]
    q, inverse = np.unique(-np.asarray(x), return_inverse=True)  # equal distortions: the cheapest point
    return np.array([min(r for r, j in zip(y, inverse) if j == i) for i in range(len(q))]), q

  names = list(dict.fromkeys(r["config"] for r in rows))
  if anchor not in names:
    raise ValueError(f"--anchor={anchor}: no such config in the sweep; configs: {', '.join(names)}")
  out = {}
  for name in names:
    if name != anchor:
      try:
        out[name] = float(rd_curves.bd_rate(*curve(anchor), *curve(name)))
      except ValueError:
        out[name] = None
  return out


def table(summary: dict) -> str:
  lines = [f"{'config':<24}{'AURD (mean ± s.e.)':>24}{'common-range AURD':>24}  seeds"]
  for name, res in summary.items():
    n = len(res["seeds"])
    common = seeds_lib.show(res.get("aurd_common_mean"), res.get("aurd_common_sem"), n)
    lines.append(f"{name:<24}{seeds_lib.show(res['aurd_mean'], res['aurd_sem'], n):>24}{common:>24}  {n}")
  return "\n".join(lines)


# --------------------------------------------------------------------------------- Gray-Wyner

def gray_wyner_row(e: Entry) -> dict:
  return {"config": e.name, "value": point_value(e.point), "seed": e.seed, "workdir": e.workdir, "codec": e.report["codec"],
          "distortion": gray_wyner_rd.distortion(e.report), **{k: float(e.report[k]) for k in gray_wyner_rd.RATE_KEYS}}


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


def gray_wyner_theory(config):
  """The synthetic source's theoretical Joint / Independent curves (None for other data)."""
  if not config or config["data"]["name"] != "gray_wyner_synthetic":
    return None
  from lossyless_jax.data import gray_wyner_synthetic
  from lossyless_jax.evaluation import gray_wyner_theory as theory
  side = int((config["data"].get("options") or {}).get("side", 64))
  return theory.theoretical_curves(gray_wyner_synthetic.source_of_side(side))


def gray_wyner_table(summary: dict) -> str:
  lines = []
  for key, values in summary.items():
    if key.startswith("bd_rate_") and values:
      lines.append(f"{key:<28}" + "  ".join(f"{c} {v:+.1f}%" for c, v in sorted(values.items())))
  return "\n".join(lines)


# --------------------------------------------------------------------------------- the sweep summary

def summarize_kind(what: str, entries: Sequence[Entry], out_dir: str, anchor: str | None = None,
                   **extra) -> tuple[dict, str]:
  """(summary, printed table) of runs of one kind (`kind`), its plot written to ``out_dir``:
  AURDs and ``rd_curve.png`` (invariant compression; with ``anchor``, the BD-rates against that
  config), BD-rates and the Rt / Rr ``rd_curve.png`` (Gray-Wyner; ``anchor``: only the lines of that
  codec are printed), or the capacity sweep and ``infomax_sweep.png``."""
  if what == "infomax":
    rows = [infomax_sweep.row(e.report, e.seed, e.workdir) for e in entries]
    summary = infomax_sweep.summarize(rows)
    result = {**extra, "summary": summary, "rows": rows,
              "plot": infomax_sweep.plot(summary, os.path.join(out_dir, "infomax_sweep.png"))}
    return result, infomax_sweep.table(summary)
  if what == "gray_wyner":
    summary = gray_wyner_summary([e.report for e in entries], out_dir, gray_wyner_theory(entries[0].config))
    text = gray_wyner_table(summary)
    if anchor:
      text = "\n".join(line for line in text.splitlines() if line.split()[0].endswith(f"_vs_{anchor}"))
    return ({**extra, "gray_wyner": summary, "rows": [gray_wyner_row(e) for e in entries], "rd_curve": summary["rd_curve"]},
            text)
  if what == "rd":
    rows = [rd_row(e) for e in entries]
    summary = summarize(rows)
    result = {**extra, "configs": summary, "rows": rows, "rd_curve": plot(rows, summary, os.path.join(out_dir, "rd_curve.png"))}
    text = table(summary)
    if anchor:
      result[f"bd_rate_vs_{anchor}"] = bd_rates(rows, anchor)
      text += "\n" + "  ".join(f"{n} {'-' if v is None else f'{v:+.1f}%'}" for n, v in result[f"bd_rate_vs_{anchor}"].items())
      text = text.rstrip() + f"  (BD-rate vs {anchor})"
    return result, text
  raise ValueError(f"{out_dir}: no rate–distortion summary for {what} runs (launch/report.py tabulates them)")


def sweep_summary(entries: Sequence[Entry], workdir: str, log=print, **extra) -> dict:
  """`summarize_kind` of a one-kind sweep, written to ``workdir/sweep.json`` (``infomax_sweep.json``
  for the capacity sweep, as `infomax_sweep.write`)."""
  if not entries:
    raise ValueError(f"{workdir}: no finished runs to summarise")
  kinds = {kind(e.report) for e in entries}
  if len(kinds) != 1:
    raise ValueError(f"a sweep mixes kinds of runs ({', '.join(sorted(kinds))}); sweep them separately")
  what = kinds.pop()
  result, text = summarize_kind(what, entries, workdir, **extra)
  with open(os.path.join(workdir, "infomax_sweep.json" if what == "infomax" else "sweep.json"), "w") as f:
    json.dump(result, f, indent=1)
  log(text)
  return result


# --------------------------------------------------------------------------------- seeds and tables

def scalars(report: dict) -> dict:
  """The report's numbers (booleans and lists left out)."""
  return {k: float(v) for k, v in report.items()
          if isinstance(v, (int, float)) and not isinstance(v, bool) and v is not None}


def over_seeds(entries: Sequence[Entry], confidence: float = 0.95) -> list[dict]:
  """Per (config, grid point): the seeds and mean ± CI of every number the reports share."""
  groups = {}
  for e in entries:
    groups.setdefault((e.name, e.point), []).append(e)
  out = []
  for (name, point), group in groups.items():
    keys = set.intersection(*(set(scalars(e.report)) for e in group))
    out.append({"config": name, "point": point, "seeds": sorted(e.seed for e in group if e.seed is not None),
                **{k: seeds_lib.mean_ci([scalars(e.report)[k] for e in group], confidence) for k in sorted(keys)}})
  return out


# the columns of summary.md, where the runs report them
KEY_METRICS = ("bits_per_image_estimated", "bits_per_image_coded", "distortion", "probe_accuracy", "ring_score",
               "R0", "R1", "R2", "Rt", "Rr", "D1", "D2", "capacity_nats", "mi_nats", "knn_auc", "mlp_auc", "silhouette")


def write_tables(entries: Sequence[Entry], out_dir: str, confidence: float = 0.95, metrics: Sequence[str] = ()) -> dict:
  """``runs.csv`` (one row per run, every number of its report) and ``summary.md``: per kind of run
  (`kind`), mean ± CI over seeds of ``metrics``, default those of `KEY_METRICS` the runs report, else
  every number they share."""
  keys = sorted(set().union(*(scalars(e.report) for e in entries)))
  csv_path = os.path.join(out_dir, "runs.csv")
  with open(csv_path, "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["config", "point", "seed", "workdir", *keys])
    for e in entries:
      s = scalars(e.report)
      w.writerow([e.name, e.point, e.seed, e.workdir, *[repr(s[k]) if k in s else "" for k in keys]])
  groups, parts = [], []
  for what in dict.fromkeys(kind(e.report) for e in entries):  # one table per kind of run
    mine = over_seeds([e for e in entries if kind(e.report) == what], confidence)
    groups += mine
    shared = [k for k in keys if all(k in g for g in mine)]
    cols = [m for m in metrics if m in shared] or [m for m in KEY_METRICS if m in shared] or shared
    lines = [f"### {what}", "", "| config | point | seeds | " + " | ".join(cols) + " |", "|" + "---|" * (3 + len(cols))]
    for g in mine:
      cells = [seeds_lib.show(g[k]["mean"], g[k]["ci"], g[k]["n"]) for k in cols]
      lines.append(f"| {g['config']} | {g['point']} | {len(g['seeds']) or 1} | " + " | ".join(cells) + " |")
    parts.append("\n".join(lines))
  md = "\n\n".join(parts) + f"\n\nmean ± {confidence:.0%} confidence half-width (Student t) over seeds\n"
  md_path = os.path.join(out_dir, "summary.md")
  with open(md_path, "w") as f:
    f.write(md)
  return {"csv": csv_path, "markdown": md_path, "table": md, "groups": groups}


# --------------------------------------------------------------------------------- NERD

def _nerd_key(config: dict) -> tuple:
  """The source and distortion measure of a NERD run (what a compressor must match)."""
  from lossyless_jax.methods import nerd
  import ml_collections
  c = ml_collections.ConfigDict(config)
  options = {k: v for k, v in (config["data"].get("options") or {}).items() if k != "eval_size"}
  return (config["data"]["name"], int(config["data"].get("image_size") or 0), json.dumps(options, sort_keys=True),
          nerd._canonical_distortion(c))  # pylint: disable=protected-access


def nerd_curves(entries: Sequence[Entry], out_dir: str, confidence: float = 0.95) -> dict:
  """Per NERD config: R̂ and D̂ per slope β̃, mean ± CI over seeds, the closed form R(D̂) where the
  source has one (``R_exact_bits``), and ``nerd_curves.png``."""
  groups = {}
  for e in entries:
    groups.setdefault(e.name if e.point == "base" else f"{e.name} {e.point}", []).append(e)
  out = {}
  fig, ax = plotting.subplots(figsize=(6, 4.5))
  for i, (label, group) in enumerate(groups.items()):
    betas = group[0].report["beta"]
    stat = lambda k: [seeds_lib.mean_ci([e.report[k][j] for e in group], confidence) for j in range(len(betas))]
    res = {"beta": betas, "D": stat("D"), "R_bits": stat("R_bits"), "seeds": [e.seed for e in group],
           "distortion": group[0].report.get("distortion")}
    if "R_exact_bits" in group[0].report:
      res["R_exact_bits"] = stat("R_exact_bits")
      res["gap_bits"] = stat("gap_bits")
    out[label] = res
    d = [s["mean"] for s in res["D"]]
    r = [s["mean"] for s in res["R_bits"]]
    ax.errorbar(d, r, xerr=[s["ci"] for s in res["D"]], yerr=[s["ci"] for s in res["R_bits"]], color=f"C{i}",
                marker="o", ms=4, capsize=2, label=f"{label}: NERD R̂(D̂)")
    if "R_exact_bits" in res:
      order = np.argsort(d)
      ax.plot(np.asarray(d)[order], np.asarray([s["mean"] for s in res["R_exact_bits"]])[order], "k--", lw=0.8,
              label=f"{label}: closed form R(D)")
  measures = sorted({str(r["distortion"]) for r in out.values() if r.get("distortion")})
  ax.set_xlabel("distortion D̂" + (f" ({', '.join(measures)})" if measures else ""))
  ax.set_ylabel("rate R̂ [bits]")
  ax.set_title(f"NERD R(D) estimates, mean ± {confidence:.0%} interval over seeds", fontsize=9)
  ax.legend(fontsize=7)
  ax.grid(alpha=0.3)
  path = os.path.join(out_dir, "nerd_curves.png")
  plotting.save(fig, path)
  return {"curves": out, "plot": path}


def operating_point(e: Entry) -> tuple | None:
  """(source key, rate bits, distortion) of a compressor run measured as a NERD source is: an
  invariant compressor reconstructing its input (VC) under the squared error summed over pixels
  (``loss.likelihood = gaussian_sigmoid``, ``loss.reduce = sum``) without augmentation. Rate and
  distortion are the test evaluation of the reported step (``metrics.jsonl``); None otherwise."""
  c = e.config
  loss, data, model = c.get("loss", {}), c.get("data", {}), c.get("model", {})
  if (c.get("method") != "vc" or loss.get("likelihood") != "gaussian_sigmoid" or loss.get("reduce") != "sum"
      or (model.get("augment") or "none") != "none"):
    return None
  path = os.path.join(e.workdir, "metrics.jsonl")
  if not os.path.exists(path):
    return None
  step = e.report.get("best_step") if c.get("report_on", "best") == "best" else e.report.get("steps")
  with open(path) as f:
    tests = [json.loads(line) for line in f if '"split": "test"' in line]
  chosen = [m for m in tests if m["step"] == step] or tests[-1:]
  if not chosen or "distortion" not in chosen[-1]:
    return None
  options = {k: v for k, v in (data.get("options") or {}).items() if k != "eval_size"}
  key = (data["name"], int(data.get("image_size") or 0), json.dumps(options, sort_keys=True), "squared_error")
  return key, float(chosen[-1]["rate_bits"]), float(chosen[-1]["distortion"])


def gaps_to_nerd(nerd_entries: Sequence[Entry], compressors: Sequence[Entry]) -> list[dict]:
  """Each compressor operating point (rate R, distortion D) against the NERD curve of the same
  source and distortion: R̂(D) interpolated between the curve's trusted points and the gap R − R̂(D)
  in bits, how far the compressor is from the estimated limit (None outside the curve's D̂ range;
  `methods.nerd.curve_checks` does the interpolation, as for its k-means points)."""
  from lossyless_jax.methods import nerd
  curves = [(_nerd_key(n.config), n) for n in nerd_entries]
  out = []
  for e in compressors:
    point = operating_point(e)
    if point is None:
      continue
    key, rate, dist = point
    for nkey, n in curves:
      if nkey != key:
        continue
      checks = nerd.curve_checks(n.report, [(rate, dist)])
      r_hat = checks.get("kmeans_curve_R_bits", [None])[0]
      out.append({"compressor": e.name, "point": e.point, "seed": e.seed, "rate_bits": rate, "distortion": dist,
                  "nerd": n.name, "nerd_seed": n.seed, "nerd_R_bits": r_hat,
                  "gap_bits": checks.get("kmeans_margin_bits", [None])[0],
                  "nerd_D_range": [float(min(n.report["D"])), float(max(n.report["D"]))]})
  return out


def gap_table(gaps: Sequence[dict]) -> str:
  lines = [f"{'compressor':<22}{'point':<28}{'seed':>5}{'rate':>9}{'D':>9}{'NERD R(D)':>11}{'gap [bits]':>12}"]
  for g in gaps:
    fmt = lambda v: "outside" if v is None else f"{v:.3f}"
    lines.append(f"{g['compressor']:<22}{g['point'][:27]:<28}{str(g['seed']):>5}{g['rate_bits']:>9.3f}"
                 f"{g['distortion']:>9.3f}{fmt(g['nerd_R_bits']):>11}{fmt(g['gap_bits']):>12}")
  return "\n".join(lines)

"""launch/report.py (issue 17, acceptance 4): a sweep's workdirs -> runs.csv, summary.md (mean ± CI
over seeds), the AURD of sweep.json, Gray-Wyner BD-rates, the InfoMax capacity sweep, NERD curves and
the gap of a compressor's operating points to NERD's R(D) of the same source."""
import csv
import json
import math
import os

import numpy as np
import pytest
from scipy import stats

from conftest import ROOT, launch_module
from lossyless_jax import config as config_lib
from lossyless_jax import sweeps

pytestmark = pytest.mark.filterwarnings("ignore:the load_module:DeprecationWarning")


@pytest.fixture(scope="module")
def report_mod():
  return launch_module("report")


def _write_run(workdir, report, config):
  """What the training loop leaves in a finished run's workdir."""
  os.makedirs(workdir, exist_ok=True)
  for name, obj in (("report.json", report), ("config.json", config)):
    with open(os.path.join(workdir, name), "w") as f:
      json.dump(obj, f)


def test_banana_sweep_aurd_is_reproduced(report_mod, monkeypatch, tmp_path):
  """The AURDs that launch/sweep.py wrote to sweep.json, recomputed from the workdirs alone."""
  from lossyless_jax import train
  from lossyless_jax.evaluation import sweep_report

  def fake(config, workdir):  # a banana-like report, written as the loop writes it
    lmbda, seed = config.coefs.rate.value, config.seed
    scale = 1.0 if config.method == "vic" else 2.0
    report = {"bits_per_image_estimated": scale * (3.0 - math.log10(lmbda)) + 0.1 * seed, "bits_per_image_coded": 4.0,
              "distortion": lmbda * (1 + seed) * scale, "distortion_is_mse": True, "ring_score": 0.5 + 0.1 * seed}
    _write_run(workdir, report, config.to_dict())
    return report

  monkeypatch.setattr(train, "train_and_eval", fake)
  paths = [os.path.join(ROOT, "configs", f"banana_{m}.py:tiny") for m in ("vic", "vc")]
  # launch/sweep.py's `sweep(..., workers=0)` (not imported here: test_launch_sweep defines its flags)
  runs = sweeps.enumerate_runs(paths, str(tmp_path / "sweep"), values=["0.01", "0.1", "1"], seeds=[0, 1, 2])
  sweeps.write_manifest(runs, str(tmp_path / "sweep"))
  entries = [sweep_report.Entry(r.name, r.point, r.seed, r.workdir, rep, {})
             for r, rep in zip(runs, sweeps.run_inprocess(runs, log=lambda s: None))]
  saved = sweep_report.sweep_summary(entries, str(tmp_path / "sweep"), log=lambda s: None)
  assert saved == json.loads((tmp_path / "sweep" / "sweep.json").read_text())
  out = report_mod.report([str(tmp_path / "sweep")], str(tmp_path / "out"), log=lambda s: None)
  assert out["runs"] == 18
  assert out["rd"]["configs"] == saved["configs"]  # AURD, common-range AURD, per seed
  assert saved["configs"]["banana_vic_tiny"]["aurd_mean"] != saved["configs"]["banana_vc_tiny"]["aurd_mean"]
  with open(tmp_path / "out" / "runs.csv") as f:
    rows = list(csv.DictReader(f))
  assert len(rows) == 18 and rows[0]["config"] == "banana_vic_tiny" and rows[0]["point"] == "coefs.rate.value=0.01"
  # summary.md: mean ± Student-t 95 % half-width over the 3 seeds
  rings = np.array([0.5, 0.6, 0.7])
  half = stats.t.ppf(0.975, 2) * rings.std(ddof=1) / math.sqrt(3)
  md = (tmp_path / "out" / "summary.md").read_text()
  line = next(l for l in md.splitlines() if l.startswith("| banana_vc_tiny | coefs.rate.value=1 |"))
  assert f"{rings.mean():.4g} ± {half:.2g}" in line and "| 3 |" in line
  assert os.path.getsize(tmp_path / "out" / "rd_curve.png") > 10_000
  lines = []
  anchored = report_mod.report([str(tmp_path / "sweep")], str(tmp_path / "out"), anchor="banana_vic_tiny", log=lines.append)
  assert anchored["rd"]["bd_rate_vs_banana_vic_tiny"]["banana_vc_tiny"] > 50  # VC: twice the bits of VIC
  assert "(BD-rate vs banana_vic_tiny)" in "\n".join(lines)
  with pytest.raises(ValueError, match="--anchor=nope: no such config in the sweep; configs: banana_vic_tiny, banana_vc_tiny"):
    report_mod.report([str(tmp_path / "sweep")], str(tmp_path / "out"), anchor="nope", log=lambda s: None)


def _gw_report(codec, scale, d):
  r = scale * (2.0 - d)
  return {"codec": codec, "R0": r / 2, "R1": r / 4, "R2": r / 4, "Rt": r, "Rr": 1.5 * r, "rmse_1": d / 2,
          "rmse_2": d / 2, "rate_unit": "bits per pixel"}


def test_gray_wyner_bd_rates_through_the_cli(python, tmp_path):
  for codec, scale in (("joint", 1.0), ("shared", 0.8)):
    for i, eta in enumerate((0.01, 0.1, 0.3, 1.0, 3.0)):
      _write_run(tmp_path / "gw" / f"gray_wyner_synthetic_{codec}" / f"loss.eta={eta}" / "seed=0",
                 _gw_report(codec, scale, 1.5 - 0.3 * i), {"seed": 0, "data": {"name": "other"}})
  out = python(["launch/report.py", str(tmp_path / "gw"), f"--out={tmp_path / 'out'}", "--anchor=joint"]).stdout
  assert "bd_rate_Rt_vs_joint" in out and "shared -20.0%" in out and "_vs_shared" not in out
  saved = json.loads((tmp_path / "out" / "sweep_report.json").read_text())
  assert saved["gray_wyner"]["gray_wyner"]["bd_rate_Rt_vs_joint"]["shared"] == pytest.approx(-20.0, abs=1e-6)
  assert saved["runs"] == 10 and (tmp_path / "out" / "rd_curve.png").exists()


def test_missing_or_empty_directories_are_named(report_mod, tmp_path):
  with pytest.raises(FileNotFoundError, match="nowhere: no such directory"):
    report_mod.report([str(tmp_path / "nowhere")], str(tmp_path / "out"))
  with pytest.raises(FileNotFoundError, match="no finished runs"):
    report_mod.report([str(tmp_path)], str(tmp_path / "out"))


def test_infomax_capacity_sweep(report_mod, tmp_path):
  for sigma, capacity in ((0.0, None), (0.5, 1.2)):
    for seed in (0, 1, 2):
      report = {"noise": "gaussian", "noise_scale": sigma, "capacity_nats": capacity, "log_batch_nats": 5.5,
                "mi_nats": (capacity or 4.0) - 0.1 * seed, "knn_auc": 0.9}
      _write_run(tmp_path / "im" / f"loss.sigma={sigma}" / f"seed={seed}", report, {"seed": seed})
  out = report_mod.report([str(tmp_path / "im")], str(tmp_path / "out"), log=lambda s: None)
  first = out["infomax"]["summary"][0]  # noise-free first
  assert first["noise_scale"] == 0.0 and first["mi_nats"]["mean"] == pytest.approx(3.9) and first["seeds"] == [0, 1, 2]
  assert os.path.exists(out["infomax"]["plot"])


def _nerd_run(tmp_path):
  """A NERD digits report (the curve of methods/nerd.py) under configs/nerd_digits.py's config."""
  config = config_lib.load("configs/nerd_digits.py").to_dict()
  curve = {"mode": "lagrangian", "distortion": "squared_error", "beta": [-6.0, -3.0, -1.2, -0.5],
           "D": [2.0, 4.0, 6.0, 8.0], "R_bits": [20.0, 10.0, 4.0, 1.0], "near_ceiling": [False] * 4,
           "D_max": 9.0}
  _write_run(tmp_path / "nerd" / "nerd_digits", curve, config)


def test_gap_of_vc_operating_points_to_the_nerd_curve(report_mod, tmp_path):
  _nerd_run(tmp_path)
  base = config_lib.load("configs/nerd_digits_vc.py:tiny").to_dict()
  for lmbda, rate, dist, step in ((0.5, 12.0, 3.0, 3), (2.0, 5.0, 7.0, 3), (8.0, 0.5, 12.0, 3)):
    wd = tmp_path / "vc" / f"coefs.rate.value={lmbda}" / "seed=0"
    _write_run(wd, {"bits_per_image_estimated": rate + 1, "bits_per_image_coded": rate + 2, "probe_accuracy": 0.5,
                    "best_step": step, "steps": step}, {**base, "seed": 0})
    with open(wd / "metrics.jsonl", "w") as f:
      f.write(json.dumps({"step": step, "split": "test", "rate_bits": rate, "distortion": dist, "loss": 0.0}) + "\n")
  lines = []
  out = report_mod.report([str(tmp_path / "nerd"), str(tmp_path / "vc")], str(tmp_path / "out"), log=lines.append)
  gaps = {g["point"]: g for g in out["gaps_to_nerd"]}
  assert gaps["coefs.rate.value=0.5"]["nerd_R_bits"] == pytest.approx(15.0)  # midway between D = 2 and 4
  assert gaps["coefs.rate.value=0.5"]["gap_bits"] == pytest.approx(12.0 - 15.0)  # below the estimate
  assert gaps["coefs.rate.value=2.0"]["gap_bits"] == pytest.approx(5.0 - 2.5)
  assert gaps["coefs.rate.value=8.0"]["gap_bits"] is None  # D = 12 beyond the curve's D̂ range
  printed = "\n".join(lines)
  assert "gap to NERD's R(D)" in printed and "outside" in printed and "-3.000" in printed
  assert os.path.exists(out["nerd"]["plot"]) and out["nerd"]["curves"]["nerd_digits"]["R_bits"][0]["mean"] == 20.0


def test_nerd_curves_with_the_closed_form_over_seeds(report_mod, tmp_path):
  config = config_lib.load("configs/nerd_gaussian.py").to_dict()
  for seed, shift in ((0, 0.0), (1, 0.2)):
    curve = {"distortion": "squared_error", "beta": [-2.0, -1.0], "D": [1.0 + shift, 2.0 + shift],
             "R_bits": [5.0 + shift, 3.0], "R_exact_bits": [4.5, 2.5], "gap_bits": [0.5 + shift, 0.5],
             "near_ceiling": [False, False], "D_max": 10.0}
    _write_run(tmp_path / "g" / f"seed={seed}", curve, {**config, "seed": seed})
  out = report_mod.report([str(tmp_path / "g")], str(tmp_path / "out"), log=lambda s: None)
  (curve,) = out["nerd"]["curves"].values()
  half = stats.t.ppf(0.975, 1) * np.std([5.0, 5.2], ddof=1) / math.sqrt(2)
  assert curve["R_bits"][0] == pytest.approx({"mean": 5.1, "ci": half, "n": 2})
  assert curve["R_exact_bits"][1]["mean"] == 2.5 and curve["seeds"] == [0, 1]


def test_a_run_without_a_manifest_is_named_from_its_layout(tmp_path):
  from lossyless_jax.evaluation import sweep_report
  _write_run(tmp_path / "banana_vic" / "coefs.rate.value=0.1" / "seed=2", {"x": 1.0}, {"seed": 2})
  runs = sweeps.enumerate_runs(["tests/configs/contrastive.py"], str(tmp_path / "listed"), field="loss.noise", values=["0.3"])
  sweeps.write_manifest(runs, str(tmp_path / "listed"))
  _write_run(runs[0].workdir, {"x": 2.0}, {"seed": 0})
  _write_run(tmp_path / "nerd_digits", {"x": 3.0}, {"seed": 0})  # one run in its own folder
  entries = sweep_report.collect([str(tmp_path)])
  named = {(e.name, e.point, e.seed) for e in entries}
  assert ("banana_vic", "coefs.rate.value=0.1", 2) in named and ("nerd_digits", "base", 0) in named
  assert len(entries) == 3
  (listed,) = sweep_report.collect([str(tmp_path / "listed")])
  assert (listed.name, listed.point, listed.seed) == ("contrastive", "loss.noise=0.3", 0)


@pytest.mark.slow(reason="four tiny banana trainings through launch/sweep.py (~3 min on 2 shared cores)")
def test_real_banana_sweep_aurd_is_reproduced(python, tmp_path, report_mod):
  python(["launch/sweep.py", "--config=configs/banana_vic.py:tiny,configs/banana_vc.py:tiny", "--values=0.1,1",
          f"--workdir={tmp_path}", "--workers=2"], timeout=900)
  saved = json.loads((tmp_path / "sweep.json").read_text())
  out = report_mod.report([str(tmp_path)], str(tmp_path / "out"), log=lambda s: None)
  assert out["runs"] == 4 and out["rd"]["configs"] == saved["configs"]

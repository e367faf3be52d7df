"""launch/sweep.py: run layout, config overrides, sweep.json rows, AURD (checked against a trapezoid
computed by hand from the rows), rd_curve.png, and the CLI on the tiny banana config."""
import json
import math
import os

import pytest

from conftest import launch_module

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIELD = "coefs.rate.value"
# ml_collections loads config files with the deprecated importlib load_module
pytestmark = pytest.mark.filterwarnings("ignore:the load_module:DeprecationWarning")


@pytest.fixture(scope="module")
def sweep_mod():
  return launch_module("sweep")


def _hand_aurd(rows):
  """Trapezoid over x = 0.5·log2(2πe·MSE), y = rate, points sorted by x."""
  pts = sorted((0.5 * math.log2(2 * math.pi * math.e * r["distortion"]), r["rate_bits"]) for r in rows)
  return sum((x1 - x0) * (y0 + y1) / 2 for (x0, y0), (x1, y1) in zip(pts, pts[1:]))


def test_sweep_layout_overrides_and_aurd(sweep_mod, monkeypatch, tmp_path):
  from lossyless_jax import train
  calls = []

  def fake_train_and_eval(config, workdir):
    lmbda, seed = config.coefs.rate.value, config.seed
    assert config.data.seed == seed and isinstance(lmbda, float)
    os.makedirs(workdir, exist_ok=True)
    calls.append(workdir)
    scale = 1.0 if config.model.banana_invariance else 2.0
    return {"bits_per_image_estimated": scale * (3.0 - math.log10(lmbda)) + 0.1 * seed,
            "bits_per_image_coded": 4.0, "distortion": lmbda * (1 + seed), "distortion_is_mse": True,
            "ring_score": 0.9}

  monkeypatch.setattr(train, "train_and_eval", fake_train_and_eval)
  paths = [os.path.join(ROOT, "configs", "banana_vic.py:tiny")]
  out = sweep_mod.sweep(paths, ["0.01", "0.1", "1"], FIELD, [0, 1], str(tmp_path))
  expected = [str(tmp_path / f"{FIELD}={v}" / f"seed={s}") for v in ("0.01", "0.1", "1") for s in (0, 1)]
  assert sorted(calls) == sorted(expected)
  with open(tmp_path / "sweep.json") as f:
    saved = json.load(f)
  assert os.path.exists(tmp_path / "rd_curve.png") and saved["field"] == FIELD
  res = saved["configs"]["banana_vic_tiny"]
  per_seed = [_hand_aurd([r for r in saved["rows"] if r["seed"] == s]) for s in (0, 1)]
  assert res["aurd_per_seed"] == pytest.approx(per_seed)
  assert res["aurd_mean"] == pytest.approx(sum(per_seed) / 2)
  assert res["aurd_sem"] == pytest.approx(abs(per_seed[0] - per_seed[1]) / 2)  # std(ddof=1)/sqrt(2)
  assert out["configs"] == saved["configs"] and len(saved["rows"]) == 6


def test_several_configs_get_their_own_dirs_and_a_common_range(sweep_mod, monkeypatch, tmp_path, capsys):
  from lossyless_jax import train

  def fake(config, workdir):
    os.makedirs(workdir, exist_ok=True)
    lmbda = config.coefs.rate.value
    factor = 1.0 if config.method == "vic" else 2.0
    return {"bits_per_image_estimated": factor / lmbda, "bits_per_image_coded": 1.0,
            "distortion": lmbda * factor, "distortion_is_mse": True}

  monkeypatch.setattr(train, "train_and_eval", fake)
  paths = [os.path.join(ROOT, "configs", f"banana_{m}.py:tiny") for m in ("vic", "vc")]
  out = sweep_mod.sweep(paths, ["0.5", "1", "2"], FIELD, [0], str(tmp_path))
  assert os.path.isdir(tmp_path / "banana_vc_tiny" / f"{FIELD}=2" / "seed=0")
  vic, vc = out["configs"]["banana_vic_tiny"], out["configs"]["banana_vc_tiny"]
  assert vic["aurd_common_mean"] < vc["aurd_common_mean"] and vic["common_range"] == vc["common_range"]
  table = capsys.readouterr().out
  assert "banana_vic_tiny" in table and "banana_vc_tiny" in table and "AURD" in table


def test_run_config_names_a_bad_field(sweep_mod):
  with pytest.raises(ValueError, match=r"--field: .*banana_vic.py:tiny: config.coefs.nope: unknown field; valid fields: rate"):
    sweep_mod.run_config(os.path.join(ROOT, "configs", "banana_vic.py:tiny"), "coefs.nope.value", "1", 0)


@pytest.mark.slow(reason="two tiny banana trainings through the CLI (~1 min on 2 shared cores)")
def test_cli_on_the_tiny_config_writes_sweep_json(python, tmp_path):
  args = ["launch/sweep.py", "--config=configs/banana_vic.py:tiny", "--values=0.1,1", "--seeds=0",
          f"--workdir={tmp_path}"]
  first = python(args).stdout
  assert "banana_vic_tiny" in first and "AURD" in first
  with open(tmp_path / "sweep.json") as f:
    saved = json.load(f)
  rows = saved["rows"]
  assert [r["value"] for r in rows] == ["0.1", "1"] and all(r["distortion_is_mse"] for r in rows)
  for r in rows:
    with open(os.path.join(r["workdir"], "report.json")) as f:
      assert json.load(f)["bits_per_image_estimated"] == pytest.approx(r["rate_bits"])
  assert saved["configs"]["banana_vic_tiny"]["aurd_mean"] == pytest.approx(_hand_aurd(rows))
  again = python(args).stdout  # finished runs are resumed, not retrained
  assert "already finished" in again


def test_config_lists_split_only_where_a_config_file_starts(sweep_mod):
  """A config's own arg may hold commas (``:shared,1.5``); a comma list of configs still splits."""
  assert sweep_mod.split_configs(["configs/gray_wyner_synthetic.py:shared,1.5,configs/banana_vic.py"]) == [
    "configs/gray_wyner_synthetic.py:shared,1.5", "configs/banana_vic.py"]
  assert sweep_mod.split_configs(["a.py,b.py:x", "c.py:1,2,paper"]) == ["a.py", "b.py:x", "c.py:1,2,paper"]


def test_gray_wyner_summary_has_bd_rates_and_the_plot(sweep_mod, tmp_path):
  reports = []
  for codec, scale in (("joint", 1.0), ("shared", 0.8), ("separated", 1.25)):
    for i in range(5):
      d = 1.5 - 0.3 * i
      r = scale * (2.0 - d)
      reports.append({"codec": codec, "R0": r / 2, "R1": r / 4, "R2": r / 4, "Rt": r, "Rr": 1.5 * r,
                      "rmse_1": d / 2, "rmse_2": d / 2, "rate_unit": "bits per pixel"})
  summary = sweep_mod.gray_wyner_summary(reports, str(tmp_path))
  assert summary["bd_rate_Rt_vs_joint"]["shared"] == pytest.approx(-20.0, abs=1e-6)
  assert summary["bd_rate_Rt_vs_separated"]["shared"] == pytest.approx(-36.0, abs=1e-6)
  assert os.path.getsize(summary["rd_curve"]) > 10_000
  assert "bd_rate_Rt_vs_joint" in sweep_mod.gray_wyner_table(summary)

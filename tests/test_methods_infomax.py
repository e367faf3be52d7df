"""The noise-injected DIM method through the loop: the digits configs end to end, the report's
contract, the MI ceiling over the logged steps, config validation, the capacity sweep."""
import json
import math
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lossyless_jax import config as config_lib
from lossyless_jax import methods, train
from lossyless_jax.evaluation import infomax_sweep
from lossyless_jax.methods import infomax

P_KEYS = ("shapiro_p", "dagostino_p", "henze_zirkler_p")


@pytest.fixture(scope="module")
def gauss_tiny(tmp_path_factory):
  workdir = str(tmp_path_factory.mktemp("gauss"))
  return workdir, train.train_and_eval(config_lib.load("configs/infomax_digits_gauss.py:tiny"), workdir)


def test_gauss_tiny_report(gauss_tiny):
  workdir, report = gauss_tiny
  assert report["steps"] == 20 and report["capacity_nats"] == pytest.approx(math.log(26))
  for key in ("mi_nats", "knn_auc", "mlp_auc", "gnb_auc", "silhouette", "knn_accuracy", *P_KEYS):
    assert math.isfinite(report[key]), key
  assert report["ceiling_nats"] == pytest.approx(min(math.log(64), math.log(26)))
  assert report["mi_logged_lines"] == 4 + 2 * 2  # 4 train lines, 2 evaluations of 2 splits
  assert report["mi_within_ceiling"] and report["mi_logged_max_excess_nats"] <= 0.05
  assert os.path.getsize(os.path.join(workdir, "scatter.png")) > 5_000
  assert json.load(open(os.path.join(workdir, "report.json")))["mi_nats"] == report["mi_nats"]


def test_uniform_tiny_reports_marginals(tmp_path):
  report = train.train_and_eval(config_lib.load("configs/infomax_digits_uniform.py:tiny"), str(tmp_path))
  assert report["noise"] == "uniform" and report["capacity_nats"] == pytest.approx(2 * math.log(11))
  assert len(report["ks_uniform_p"]) == 2 and sum(report["histogram"][0]) == 1797
  assert (tmp_path / "histograms.png").stat().st_size > 5_000


def test_noise_goes_to_the_clean_branch_only():
  """With a huge σ and no augmentation the clean branch carries no information: InfoNCE(T*) ≈ 0; with
  σ → small it approaches min(log N, C)."""
  config = config_lib.load("configs/infomax_digits_gauss.py:dm")
  x = jnp.asarray(np.random.default_rng(0).uniform(size=(128, 8, 8, 1)), jnp.float32)
  params, state = infomax.init(jax.random.PRNGKey(0), {"image": x}, config)
  values = {}
  for sigma in (30.0, 0.5):
    config.loss.sigma = sigma
    _, metrics, _ = infomax.objective(config, params, state, x, jax.random.PRNGKey(1))
    values[sigma] = float(metrics["mi_nats"])
  assert abs(values[30.0]) < 0.02 and values[0.5] > 0.5


@pytest.mark.parametrize("field,value,match", [("loss.critic", "gaussian", "T\\*"), ("loss.epsilon", 0.1, "epsilon"),
                                               ("loss.objective", "simclr", "projector"),
                                               ("model.target", "cauchy", "target"), ("loss.eval_subsample", 10, ">= 20")])
def test_validation_names_the_field(field, value, match):
  config = config_lib.load("configs/infomax_digits_gauss.py")
  if field == "loss.critic":
    config.model.target = "uniform"
  config.update_from_flattened_dict({field: value})
  with pytest.raises(config_lib.ConfigError, match=match):
    methods.get("infomax").validate(config)


def test_logged_mi_check_uses_each_lines_batch(tmp_path):
  path = tmp_path / "metrics.jsonl"
  lines = [{"step": 1, "split": "train", "mi_nats": 1.0, "log_n": math.log(4)},
           {"step": 1, "split": "test", "mi_nats": 1.4, "log_n": math.log(4)}]
  path.write_text("\n".join(map(json.dumps, lines)))
  out = infomax.logged_mi_check(str(path), None)
  assert out["mi_logged_max_excess_nats"] == pytest.approx(1.4 - math.log(4)) and out["mi_within_ceiling"]
  assert not infomax.logged_mi_check(str(path), 1.2)["mi_within_ceiling"]


def test_sweep_summary_confidence_intervals():
  rows = [{"noise": "gaussian", "noise_scale": s, "capacity_nats": None if s == 0 else 1.0 / s, "log_batch_nats": 5.0,
           "seed": k, "workdir": "", **{m: float(k) for m in infomax_sweep.METRICS}} for s in (0.0, 0.5) for k in (0, 1, 2)]
  summary = infomax_sweep.summarize(rows)
  assert [e["noise_scale"] for e in summary] == [0.0, 0.5] and summary[0]["capacity_nats"] is None
  assert summary[1]["knn_auc"] == pytest.approx({"mean": 1.0, "ci99": infomax_sweep.Z99 * 1.0 / math.sqrt(3), "n": 3})


def test_get_sweep_covers_noise_free_and_seeds():
  import importlib.util
  spec = importlib.util.spec_from_file_location("g", "configs/infomax_digits_gauss.py")
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  grid = module.get_sweep()
  assert {g["loss.sigma"] for g in grid} >= {0.0, 0.1, 0.3} and {g["seed"] for g in grid} == {0, 1, 2}


@pytest.mark.slow
def test_pure_distribution_matching_end_to_end(tmp_path):
  """Acceptance 3 (Lemma 3.1 with X' = X, σ = 0.5, T*): MI within 0.05 nats of C, mean p-values ≥ 0.3,
  kNN near chance."""
  r = train.train_and_eval(config_lib.load("configs/infomax_digits_gauss.py:dm"), str(tmp_path))
  assert abs(r["mi_nats"] - r["capacity_nats"]) < 0.05
  assert min(r[k] for k in P_KEYS) >= 0.3 and r["knn_accuracy"] < 0.35


@pytest.mark.slow
def test_digits_gaussian_target_end_to_end(tmp_path):
  """Acceptance 4 at σ = 0.2 (C = 3.26 nats), augmentation 0.3."""
  r = train.train_and_eval(config_lib.load("configs/infomax_digits_gauss.py"), str(tmp_path))
  assert r["shapiro_p"] > 0.08 and r["dagostino_p"] > 0.08 and r["henze_zirkler_p"] > 0.02
  assert r["max_abs_correlation"] < 0.1 and r["knn_auc"] > 0.95 and r["mlp_auc"] > 0.98
  assert r["mi_nats"] < r["capacity_nats"] and r["mi_within_ceiling"]


@pytest.mark.slow
def test_capacity_sweep_through_launch_sweep(python, tmp_path):
  python(["launch/sweep.py", "--config=configs/infomax_digits_gauss.py:tiny", "--field=loss.sigma", "--values=0,0.3",
          "--seeds=0,1", f"--workdir={tmp_path}"], timeout=900)
  result = json.loads((tmp_path / "infomax_sweep.json").read_text())
  assert [e["noise_scale"] for e in result["summary"]] == [0.0, 0.3]
  assert all(e["knn_auc"]["n"] == 2 for e in result["summary"]) and (tmp_path / "infomax_sweep.png").exists()

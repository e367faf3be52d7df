"""evaluation.gray_wyner_rd: curves from reports, BD-rates against an anchor, the Rt / Rr plot."""
import os

import numpy as np
import pytest

from lossyless_jax.evaluation import gray_wyner_rd as gwrd


def _reports(codec, scale, etas=(0.5, 1, 2, 4, 8)):
  # R(D) = scale · (2 − D) on D ∈ [0.3, 1.5]: a codec with scale s needs s times the bits
  out = []
  for i, eta in enumerate(etas):
    d = 1.5 - 0.3 * i
    r = scale * (2.0 - d)
    out.append({"codec": codec, "eta": eta, "beta": 1.5, "R0": r / 2, "R1": r / 4, "R2": r / 4,
                "Rt": r, "Rr": 1.5 * r, "rmse_1": d / 2, "rmse_2": d / 2})
  return out


def test_bd_rate_of_a_scaled_curve_is_the_scale():
  reports = _reports("joint", 1.0) + _reports("shared", 0.8) + _reports("separated", 1.25)
  c = gwrd.curves(reports[::-1])  # any order: curves sort by distortion
  assert np.all(np.diff(c["shared"]["distortion"]) > 0)
  bd = gwrd.bd_rates(c, "joint", "Rt")
  assert bd["shared"] == pytest.approx(-20.0, abs=1e-6)
  assert bd["separated"] == pytest.approx(25.0, abs=1e-6)
  assert set(bd) == {"shared", "separated"}
  with pytest.raises(ValueError, match="anchor"):
    gwrd.bd_rates(c, "combined")


def test_distortion_is_the_sum_of_the_task_terms():
  assert gwrd.distortion({"rmse_1": 0.25, "rmse_2": 0.5}) == 0.75
  assert gwrd.distortion({"acc_digit": 0.9, "acc_colour": 0.99}) == pytest.approx(0.11)
  with pytest.raises(KeyError, match="rmse_1"):
    gwrd.distortion({"Rt": 1.0})


def test_unfittable_curves_give_nan_and_the_plot_is_written(tmp_path):
  reports = _reports("joint", 1.0) + _reports("combined", 1.0, etas=(1,))
  c = gwrd.curves(reports)
  assert np.isnan(gwrd.bd_rates(c, "joint")["combined"])
  theory = {"distortion": np.array([0.3, 0.7]), "joint": np.array([1.2, 0.5]), "independent": np.array([1.7, 0.7])}
  path = gwrd.plot(str(tmp_path / "rd.png"), c, theory=theory, title="test")
  assert (tmp_path / "rd.png").stat().st_size > 10_000 and path.endswith("rd.png")


def _cityscapes_reports(codec, scale):
  # quality q = mIoU + 1/RMSE rises with the rate; a codec with scale s needs s times the bits
  out = []
  for i, miou in enumerate((0.60, 0.62, 0.64, 0.66, 0.67)):
    rmse = 6.0 - 0.1 * i
    q = miou + 1 / rmse
    r = scale * np.exp(10 * (q - 0.7))
    out.append({"codec": codec, "eta": 0.01 * (i + 1), "beta": 1.0, "R0": r / 2, "R1": r / 4, "R2": r / 4,
                "Rt": r, "Rr": 1.5 * r, "miou": miou, "rmse_px": rmse})
  return out


def test_cityscapes_quality_bd_rate_against_joint_and_the_quality_plot(tmp_path):
  """§4.3: quality mIoU + 1/RMSE, BD-rates against Joint, the quality-against-rate plot."""
  assert gwrd.quality({"miou": 0.6716, "rmse_px": 5.5052}) == pytest.approx(gwrd.CITYSCAPES_UNCOMPRESSED)
  assert gwrd.distortion({"miou": 0.5, "rmse_px": 4.0}) == pytest.approx(-0.75)
  c = gwrd.curves(_cityscapes_reports("joint", 1.0) + _cityscapes_reports("shared", 0.5))
  assert gwrd.bd_rates(c, "joint", "Rt")["shared"] == pytest.approx(-50.0, abs=1e-6)
  path = gwrd.plot(str(tmp_path / "cs.png"), c, uncompressed=gwrd.CITYSCAPES_UNCOMPRESSED)
  assert os.path.getsize(path) > 10_000

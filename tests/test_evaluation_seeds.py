"""Mean ± confidence interval over seeds, and how the tables print a single seed."""
import math

import pytest
from scipy import stats

from lossyless_jax.evaluation import seeds, sweep_report


def test_mean_ci_is_the_student_t_half_width():
  out = seeds.mean_ci([1.0, 2.0, 4.0, float("nan"), None], confidence=0.99)
  sd = math.sqrt(((1 - 7 / 3) ** 2 + (2 - 7 / 3) ** 2 + (4 - 7 / 3) ** 2) / 2)
  assert out == pytest.approx({"mean": 7 / 3, "ci": stats.t.ppf(0.995, 2) * sd / math.sqrt(3), "n": 3})
  assert seeds.mean_ci([5.0]) == {"mean": 5.0, "ci": 0.0, "n": 1}
  assert seeds.mean_ci([]) == {"mean": None, "ci": None, "n": 0}


def test_one_seed_prints_no_interval():
  assert seeds.show(0.5, 0.0, 1) == "0.5"
  assert seeds.show(0.5, 0.125, 2) == "0.5 ± 0.12"
  assert seeds.show(None, None, 0) == "-"
  one = {"a": {"aurd_mean": 1.25, "aurd_sem": 0.0, "seeds": [0]}}
  two = {"a": {"aurd_mean": 1.25, "aurd_sem": 0.5, "seeds": [0, 1]}}
  assert "±" not in sweep_report.table(one).splitlines()[1]
  assert "1.25 ± 0.5" in sweep_report.table(two)

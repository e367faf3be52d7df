"""The launch scripts' command line: help and config listing, and bad input as one line (exit 2)
without a traceback (`benchmarks/malformed_invocations.py --smoke`)."""
import os
import subprocess
import sys

import pytest

from conftest import ROOT


@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_help_exits_0_and_lists_the_configs_with_their_summary(python, flag):
  out = python(["launch/main.py", flag])
  assert out.returncode == 0 and "--workdir" in out.stdout
  assert "configs/digits_vic.py" in out.stdout and "the default job" in out.stdout


def test_list_shows_every_config(python):
  out = python(["launch/main.py", "--list"]).stdout
  for name in os.listdir(os.path.join(ROOT, "configs")):
    if name.endswith(".py"):
      assert f"configs/{name}" in out


@pytest.mark.parametrize("script", ["launch/main.py", "launch/sweep.py"])
def test_missing_config_file_names_it_and_lists_configs(python, script, tmp_path):
  extra = ["--values=1"] if script.endswith("sweep.py") else []
  out = python([script, "--config=configs/no_such_config.py", *extra, f"--workdir={tmp_path / 'w'}"], check=False)
  assert out.returncode == 2 and "Traceback" not in out.stderr
  (line,) = out.stderr.strip().splitlines()
  assert "configs/no_such_config.py" in line and "not found" in line and "digits_vic.py" in line
  assert not (tmp_path / "w").exists()


def test_verbose_shows_the_traceback(python):
  out = python(["launch/main.py", "--config.model.z_dim=0", "--verbose"], check=False)
  assert out.returncode != 0 and "Traceback" in out.stderr and "config.model.z_dim" in out.stderr


def test_malformed_invocations_smoke():
  proc = subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", "malformed_invocations.py"), "--smoke"],
                        cwd=ROOT, capture_output=True, text=True, timeout=600)
  assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
  assert '"passed": 12' in proc.stdout

"""Tests for lossyless_jax.progress: plain lines off a terminal, tqdm on one, the ETA, process 0 only."""
import math
import sys
import time

import jax
import pytest

from lossyless_jax import progress


class FakeClock:
  def __init__(self):
    self.now = 0.0

  def __call__(self):
    return self.now


@pytest.fixture
def clock(monkeypatch):
  """Plain-line mode on a fake clock, without heartbeat lines."""
  fake = FakeClock()
  monkeypatch.setenv(progress.ENV, "lines")
  monkeypatch.setattr(progress, "_clock", fake)
  monkeypatch.setattr(progress, "HEARTBEAT", 0.0)
  monkeypatch.setattr(progress, "INTERVAL", 5.0)
  monkeypatch.setattr(progress._LINES, "last", -math.inf)
  return fake


def test_plain_lines_start_end_and_at_most_one_per_interval(clock, capsys):
  with progress.phase("work", total=20, unit="items") as p:
    for _ in range(20):
      clock.now += 1.0
      p.update()
  lines = capsys.readouterr().out.splitlines()
  assert lines[0] == "work: starting (20 items)"
  assert lines[-1] == "work: done, 20/20 items in 20s"
  status = lines[1:-1]
  # 20 s of updates every second, one line per 5 s: at 5, 10, 15 and 20 s
  assert [line.split(" (")[0] for line in status] == [f"work: {n}/20 items" for n in (5, 10, 15, 20)]
  assert "elapsed 5.0s" in status[0]


def test_eta_excludes_the_first_item(clock, capsys):
  with progress.phase("cnn", total=10, unit="epochs") as p:
    clock.now = 100.0  # the first epoch compiles: 100 s
    p.update()
    assert p.eta(clock.now) is None  # no rate yet
    for _ in range(2):  # then 1 s per epoch
      clock.now += 1.0
      p.update()
    assert p.eta(clock.now) == pytest.approx(7.0)  # 7 epochs left at 1 s (the mean over all would say ~238 s)
    clock.now += 0.5
    assert p.eta(clock.now) == pytest.approx(6.5)  # counts down between updates
    clock.now += 5.0
    p.update(val_acc=0.5)
  line = capsys.readouterr().out.splitlines()[-2]
  assert line.startswith("cnn: 4/10 epochs (elapsed 1m47s, ETA ") and line.endswith(" val_acc=0.5"), line
  assert "ETA 15s" in line  # 6 epochs at (107.5 - 100) / 3 s


def test_nested_phase_prints_only_status_lines_with_the_outer_state(clock, capsys):
  for _ in progress.phase("codecs", ["png:9", "webp:10"], unit="settings", label=str):
    with progress.phase("CNN", total=4, unit="epochs") as inner:
      for _ in range(4):
        clock.now += 2.0
        inner.update()
  lines = capsys.readouterr().out.splitlines()
  assert lines[0] == "codecs: starting (2 settings)" and lines[-1] == "codecs: done, 2/2 settings in 16s"
  assert all(" · CNN: " in line for line in lines[1:-1]) and len(lines) - 2 == 2  # at 6 and 12 s
  assert lines[1].startswith("codecs: 0/2 settings png:9 (elapsed 6.0s) · CNN: 3/4 epochs (elapsed 6.0s, ETA 2.0s)")
  assert lines[2].startswith("codecs: 1/2 settings webp:10")


def test_heartbeat_prints_while_one_item_runs_long(monkeypatch, capsys):
  monkeypatch.setenv(progress.ENV, "lines")
  monkeypatch.setattr(progress, "INTERVAL", 0.2)
  monkeypatch.setattr(progress, "HEARTBEAT", 0.05)
  with progress.phase("compile", total=1) as p:
    time.sleep(1.5)  # no update meanwhile
    p.update()
  lines = capsys.readouterr().out.splitlines()
  status = [line for line in lines if line.startswith("compile: 0/1 it (elapsed")]
  assert 2 <= len(status) <= 1.5 / 0.2 + 1, lines


def test_terminal_uses_tqdm(monkeypatch, capsys):
  monkeypatch.delenv(progress.ENV, raising=False)

  class Terminal:
    def isatty(self):
      return True

  monkeypatch.setattr(sys, "stderr", Terminal())
  assert progress.mode() == "bar"
  monkeypatch.undo()
  monkeypatch.setenv(progress.ENV, "bar")
  from tqdm.std import tqdm
  with progress.phase("probe", total=3, unit="epochs") as p:
    assert isinstance(p._bar, tqdm)
    for _ in range(3):
      p.update()
  out = capsys.readouterr()
  assert out.out == "" and "probe: 100%" in out.err and "3/3 epochs" in out.err


def test_other_processes_print_nothing(clock, monkeypatch, capsys):
  monkeypatch.setattr(jax, "process_index", lambda: 1)
  assert progress.mode() == "off"
  items = list(progress.phase("work", range(3)))
  with progress.phase("more", total=2) as p:
    clock.now += 10.0
    p.update(2)
  assert items == [0, 1, 2] and capsys.readouterr().out == ""


def test_off_prints_nothing(clock, monkeypatch, capsys):
  monkeypatch.setenv(progress.ENV, "off")
  assert list(progress.phase("work", "ab")) == ["a", "b"]
  assert capsys.readouterr().out == ""


@pytest.mark.parametrize("setting, shown", [("lines", True), ("off", False)])
def test_the_training_bar_follows_the_same_setting(monkeypatch, capsys, setting, shown):
  from lossyless_jax import logging as log_lib
  monkeypatch.setenv(progress.ENV, setting)
  bar = log_lib.Progress(total=10, initial=0)
  bar.update(5, {"loss": 1.5})
  bar.close()
  assert ("step 5/10" in capsys.readouterr().out) == shown

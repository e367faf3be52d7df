"""Progress of the long phases of an evaluation: a tqdm bar on a terminal, plain lines otherwise.

``phase(desc, items=None, total=None, unit=...)`` is a context manager (``.update(n, **postfix)``
counts finished work) or, given ``items``, an iterable that counts each item when the loop body
is done. On a terminal (stderr a TTY) it draws a tqdm bar, transient when nested in another
phase. Otherwise (a file, CI, a notebook) it prints ``desc: n/N unit (elapsed, ETA)`` lines on
stdout: one at the start and one at the end (with the phase's wall time) of an outermost phase,
and in between the state of every open phase, outer ones first (``classical codecs: 3/21
settings webp:10 (…) · CNN: 4/40 epochs (…)``), at most once every ``INTERVAL`` seconds, also
while one item runs long (a heartbeat thread). The ETA uses the rate of the items after the
first one, which pays for compilation. Only process 0 shows anything; the environment variable
``LOSSYLESS_PROGRESS`` = ``bar``, ``lines`` or ``off`` overrides the terminal test.
"""
from __future__ import annotations

import math
import os
import sys
import threading
import time
from typing import Any, Callable, Iterable

INTERVAL = 5.0  # seconds between two plain lines
HEARTBEAT = 1.0  # seconds between the heartbeat's checks (0: no heartbeat lines)
ENV = "LOSSYLESS_PROGRESS"

_clock = time.monotonic


def mode() -> str:
  """``"off"`` (not process 0, or ``LOSSYLESS_PROGRESS=off``), ``"bar"`` (stderr is a terminal) or
  ``"lines"``; ``LOSSYLESS_PROGRESS=bar|lines`` forces one of the last two."""
  import jax
  forced = os.environ.get(ENV, "").strip().lower()
  if forced == "off" or jax.process_index() != 0:
    return "off"
  if forced in ("bar", "lines"):
    return forced
  return "bar" if sys.stderr.isatty() else "lines"


def _seconds(s: float) -> str:
  if s < 10:
    return f"{s:.1f}s"
  return f"{s:.0f}s" if s < 60 else f"{int(s // 60)}m{int(s % 60):02d}s"


class _Lines:
  """What the open phases share: their stack (outermost first) and, in plain mode, the time of the
  last line and the heartbeat thread that prints while no phase updates."""

  def __init__(self):
    self.lock = threading.RLock()
    self.stack: list[Phase] = []
    self.last = -math.inf
    self.pid = None  # the process whose heartbeat runs (a forked child starts its own)

  def write(self, text: str) -> None:
    with self.lock:
      sys.stdout.write(text + "\n")
      sys.stdout.flush()
      self.last = _clock()

  def status(self, now: float) -> None:
    """The state of the open plain phases, unless a line was printed less than INTERVAL ago."""
    with self.lock:
      shown = [p for p in self.stack if p.mode == "lines"]
      if shown and now - self.last >= INTERVAL:
        self.write(" · ".join(p.state(now) for p in shown))

  def push(self, p: Phase) -> None:
    with self.lock:
      self.stack.append(p)
      if p.mode == "lines" and self.pid != os.getpid():
        self.pid = os.getpid()
        threading.Thread(target=self._beat, name="progress-heartbeat", daemon=True).start()

  def pop(self, p: Phase) -> None:
    with self.lock:
      self.stack.remove(p)

  def _beat(self) -> None:
    while True:
      time.sleep(HEARTBEAT or 1.0)
      with self.lock:
        if HEARTBEAT:
          self.status(_clock())


_LINES = _Lines()


class Phase:
  """A phase named ``desc`` of ``total`` units (default ``len(items)``): ``with phase(...) as p:
  ... p.update()`` or ``for item in phase(desc, items): ...``; ``label(item)`` names the item being
  worked on; ``leave`` (default: not nested in another phase) keeps the bar / prints the start and
  end lines. Outside ``with`` or iteration it shows nothing."""

  def __init__(self, desc: str, items: Iterable | None = None, total: int | None = None, unit: str = "it",
               label: Callable[[Any], Any] | None = None, leave: bool | None = None):
    self.desc, self.items, self.unit, self.label, self.leave = desc, items, unit, label, leave
    self.total = len(items) if total is None and hasattr(items, "__len__") else total
    self.n, self.current, self.postfix = 0, "", {}
    self.mode = "off"
    self._bar = None
    self._t0 = self._t1 = self._n1 = self._t_last = None  # start; time and count at the first update; last update

  def __enter__(self) -> Phase:
    self.mode = mode()
    self._t0 = _clock()
    if self.mode == "off":
      return self
    with _LINES.lock:
      nested = any(p.mode == self.mode for p in _LINES.stack)
      self.leave = not nested if self.leave is None else self.leave
      if self.mode == "bar":
        from tqdm.auto import tqdm
        counts = "{n_fmt}/{total_fmt}" if self.total is not None else "{n_fmt}"
        self._bar = tqdm(total=self.total, desc=self.desc, unit=self.unit, leave=self.leave, dynamic_ncols=True,
                         bar_format="{desc}: " + ("{percentage:3.0f}%|{bar}| " if self.total is not None else "")
                         + counts + " {unit} [{elapsed}{postfix}]")
      elif self.leave:
        _LINES.write(self._context() + f"{self.desc}: starting" + (f" ({self.total} {self.unit})" if self.total else ""))
      _LINES.push(self)
    return self

  def __exit__(self, exc_type, exc, tb) -> None:
    if self.mode == "off":
      return
    with _LINES.lock:
      _LINES.pop(self)
      if self._bar is not None:
        self._bar.close()
      elif self.leave:
        failed = exc_type is not None and not issubclass(exc_type, GeneratorExit)
        count = self._count()
        _LINES.write(self._context() + f"{self.desc}: {'interrupted' if failed else 'done'}"
                     + (f", {count}" if count else "") + f" in {_seconds(_clock() - self._t0)}")

  def __iter__(self):
    with self:
      for item in self.items:
        if self.label is not None:
          self.current = str(self.label(item))
          if self._bar is not None:
            self._bar.set_postfix_str(self._extra(_clock()))
        yield item
        self.update()

  def update(self, n: int = 1, **postfix) -> None:
    """Counts ``n`` more finished items; ``postfix`` (e.g. ``val_acc=0.93``) replaces the shown values."""
    self.n += n
    if postfix:
      self.postfix = postfix
    now = _clock()
    if self._t1 is None:
      self._t1, self._n1 = now, self.n
    self._t_last = now
    if self._bar is not None:
      self._bar.set_postfix_str(self._extra(now), refresh=False)
      self._bar.update(n)
    elif self.mode == "lines":
      _LINES.status(now)

  def eta(self, now: float) -> float | None:
    """Seconds left at ``now``, at the rate of the items after the first update (None before a
    second update): the last update's time plus the remaining items at that rate, minus ``now``."""
    if self.total is None or self._t1 is None or self.n <= self._n1:
      return None
    per_item = (self._t_last - self._t1) / (self.n - self._n1)
    return max(self._t_last + max(self.total - self.n, 0) * per_item - now, 0.0)

  def _count(self) -> str:
    """``n/N unit``, ``n unit`` without a total, "" without a total and before any update."""
    if self.total is None:
      return f"{self.n} {self.unit}" if self.n else ""
    return f"{self.n}/{self.total} {self.unit}"

  def _extra(self, now: float) -> str:
    """The current item, the ETA and the postfix values (tqdm's postfix)."""
    eta = self.eta(now)
    parts = [self.current] if self.current else []
    parts += [f"ETA {_seconds(eta)}"] if eta is not None else []
    return ", ".join(parts + self._values())

  def state(self, now: float) -> str:
    """``desc: n/N unit current (elapsed Xs, ETA Ys) key=value`` (a plain line's part)."""
    eta = self.eta(now)
    timing = f"elapsed {_seconds(now - self._t0)}" + (f", ETA {_seconds(eta)}" if eta is not None else "")
    return " ".join(s for s in (f"{self.desc}:", self._count(), self.current, f"({timing})", *self._values()) if s)

  def _values(self) -> list[str]:
    return [f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in self.postfix.items()]

  def _context(self) -> str:
    now = _clock()
    return "".join(p.state(now) + " · " for p in _LINES.stack if p.mode == "lines")


phase = Phase  # the entry point: `progress.phase(desc, ...)`

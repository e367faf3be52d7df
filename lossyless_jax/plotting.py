"""Off-screen figures for the plots that runs save as PNG files.

Each figure is a `matplotlib.figure.Figure` of its own, drawn by the Agg renderer that `savefig`
picks for ``.png``; pyplot is never imported and its backend never switched. A notebook's inline
plots, and a script's interactive window, therefore keep working after a run has saved its plots,
and figures from threads or repeated runs never accumulate in pyplot's registry.
"""
from __future__ import annotations


def subplots(nrows: int = 1, ncols: int = 1, *, figsize=None, **kwargs):
  """``(fig, axes)`` as `matplotlib.pyplot.subplots` returns them (``kwargs``: ``sharex``,
  ``sharey``, ``squeeze``, ...), on a figure that pyplot does not know."""
  from matplotlib.figure import Figure
  fig = Figure(figsize=figsize)
  return fig, fig.subplots(nrows, ncols, **kwargs)


def save(fig, path: str, dpi: int = 110, tight: bool = True) -> str:
  """Lays ``fig`` out (``tight``), writes it to ``path`` and returns ``path``."""
  if tight:
    fig.tight_layout()
  fig.savefig(path, dpi=dpi)
  return path

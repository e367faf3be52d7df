"""The saved plots leave pyplot alone (lossyless_jax/plotting.py): a notebook's inline figures keep
working after a run."""
import os
import subprocess
import sys
import textwrap

_SCRIPT = textwrap.dedent("""
    import os, sys
    import matplotlib
    matplotlib.use("svg")  # stands for a notebook's inline backend
    import numpy as np
    from lossyless_jax.evaluation import cells, gray_wyner_rd
    from lossyless_jax.methods.lossyless import plots
    out = sys.argv[1]
    rows = [{"codec": "webp", "quality": q, "bits_per_image": 100.0 * (q + 1), "accuracy": 0.5 + 0.1 * q}
            for q in range(3)]
    result = {"method": "vic", "bits_per_image_coded": 40.0, "probe_accuracy": 0.9,
              "classical_reference": "webp:0", "classical_over_coded_ratio": 2.5}
    paths = [plots.rate_accuracy(os.path.join(out, "ra.png"), result, rows),
             plots.reconstructions(os.path.join(out, "rec.png"), np.zeros((3, 8, 8, 1)), np.ones((3, 8, 8, 1)), 12.0),
             cells.plot_cells(os.path.join(out, "cells.png"), np.arange(16) % 5, mesh=4, lim=1.0,
                              samples=np.zeros((4, 2)), codebook=np.zeros((5, 2)), code_bits=np.ones(5)),
             gray_wyner_rd.plot(os.path.join(out, "gw.png"),
                                {"shared": {"distortion": np.array([0.1, 0.2]), "Rt": np.array([2.0, 1.0]),
                                            "Rr": np.array([3.0, 1.5])}})]
    print(matplotlib.get_backend(), "matplotlib.pyplot" in sys.modules, *paths)
    """)


def test_plots_are_png_and_leave_the_backend_and_pyplot_untouched(tmp_path):
  env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
  res = subprocess.run([sys.executable, "-c", _SCRIPT, str(tmp_path)], capture_output=True, text=True, env=env,
                       timeout=300)
  assert res.returncode == 0, res.stderr[-3000:]
  backend, pyplot_loaded, *paths = res.stdout.split()
  assert backend == "svg"
  assert pyplot_loaded == "False"
  assert len(paths) == 4
  for p in paths:
    with open(p, "rb") as f:
      assert f.read(8) == b"\x89PNG\r\n\x1a\n", p
    assert os.path.getsize(p) > 2000, p

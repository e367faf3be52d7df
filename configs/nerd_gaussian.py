"""NERD on the authors' 20-dim rotated Gaussian (σ_k² = 4e^{-k/2}), checked against reverse water-filling.

COMMAND: python launch/main.py --config=configs/nerd_gaussian.py[:m40|:constrained]

`:m40` uses the 40-dim source (σ_k² = 4e^{-k}) with the authors' slopes for it; `:constrained`
runs Algorithm 1 (per-step bisection for β̃*) at target distortions D ∈ {5, 3, 2}. Lagrangian mode:
one generator per slope β̃ (nats per unit of squared error summed over coordinates; β̃ < 0),
all trained together. M = 4,000 samples per step caps the estimate at log2 M ≈ 12 bits (points
within 1 bit of it are flagged); evaluation uses M = 40,000 on 5,000 held-out points.
The report prints R̂, D̂ and the closed-form R(D̂) per slope (nerd.md §6.3, item 1).
"""
from lossyless_jax.methods import nerd


def get_config(arg=""):
  c = nerd.base_config()
  c.data.name = "gaussian40" if arg == "m40" else "gaussian20"
  # β̃ < 0: slope of R(D) in nats per unit distortion (the paper's β̃ = -β of Blahut–Arimoto).
  c.loss.betas = (-20.0, -10.0, -6.0, -3.0, -1.0, -0.25) if arg == "m40" else (-4.0, -2.0, -1.0, -0.5, -0.25)
  if arg == "constrained":
    c.loss.mode = "constrained"
    c.loss.targets = (5.0, 3.0, 2.0)  # D per sample (squared error summed over the 20 coordinates)
    c.loss.beta_min = -20.0  # search interval of β̃* (the authors' [-20, -1e-9])
  elif arg not in ("", "m40"):
    raise ValueError(f"configs/nerd_gaussian.py: unknown arg {arg!r}; expected '', 'm40' or 'constrained'")
  return c

"""NERD on the authors' 20-dim rotated Gaussian (σ_k² = 4e^{-k/2}), checked against reverse water-filling.

COMMAND: python launch/main.py --config=configs/nerd_gaussian.py[:m40|:constrained|:lp1|:lp3|:warm]

Lagrangian mode (the authors' released code): one generator per slope β̃ (nats per unit of squared
error summed over the coordinates; β̃ < 0), all trained together. The variances are those of the
authors' code; the paper's Fig. 2 caption prints 4e^{-k/16}, which does not match its curves.
M_train = 4,000 samples per step caps the estimate at log2 M ≈ 12 bits (the authors: 40,000);
evaluation uses M = 40,000 on 5,000 held-out points, and points within 1 bit of log2 M or 2 bits of
log2 M_train are flagged untrusted. The report gives R̂, D̂ and the closed-form R(D̂) per slope, and
the variance of G(z) along each principal axis of the source next to the reverse water-filling value
max(σ_k² − λ, 0) of the optimal reproduction law (§IV-A, eqs. (22)–(23)).

* `:m40`: the 40-dim source (σ_k² = 4e^{-k}) with the authors' slopes for it (Fig. 15).
* `:constrained`: Algorithm 1 at target distortions D ∈ {5, 3, 2}. Per step β̃* with D̂(β̃*) = D
  (full B × M matrix, eq. (8)) comes from a safeguarded Newton search on log|β̃| in [-20, -1e-6]:
  Newton steps inside a bracket that shrinks at every evaluation, the bracket's midpoint when a
  step would leave it, at most 30 evaluations, stopping at |D̂ − D| ≤ 1e-6·D. The paper prints plain
  bisection; the authors' old constrained code bisects on [-20, -1e-9]. The evaluation solves D̂ = D
  with M = 40,000 by log-spaced grid sweeps that narrow the bracket, then interpolates.
* `:lp1`, `:lp3`: the ℓp distortions ‖x − y‖_p² of §IV-F (Fig. 7) with p = 1 or 3 and the
  authors' slopes for them; no closed form, so the report checks monotonicity and convexity. By
  eq. (24) the p = 1 curve lies above the p = 2 one, which lies above the p = 3 one.
* `:warm`: the default slopes trained one after the other, steepest first, each starting from the
  previous one's generator with a fresh Adam, as the authors' sweep; 3,000 steps per slope.
"""
from lossyless_jax import config as config_lib
from lossyless_jax.methods import nerd

ARGS = ("", "m40", "constrained", "lp1", "lp3", "warm")


def get_config(arg=""):
  config_lib.check_arg(arg, ARGS, "configs/nerd_gaussian.py")
  c = nerd.base_config()
  c.data.name = "gaussian40" if arg == "m40" else "gaussian20"
  # β̃ < 0: slope of R(D) in nats per unit distortion (the paper's β̃ = -β of Blahut–Arimoto).
  c.loss.betas = (-20.0, -10.0, -6.0, -3.0, -1.0, -0.25) if arg == "m40" else (-4.0, -2.0, -1.0, -0.5, -0.25)
  if arg == "constrained":
    c.loss.mode = "constrained"
    c.loss.targets = (5.0, 3.0, 2.0)  # D per sample (squared error summed over the 20 coordinates)
    c.loss.beta_min = -20.0  # search interval of β̃*
  elif arg in ("lp1", "lp3"):
    c.loss.distortion = "lp"
    c.loss.p = float(arg[2:])
    # The authors' slopes for these distortions (β̃ per unit of ‖x − y‖_p²).
    c.loss.betas = (-10.0, -6.0, -3.0, -1.0, -0.25) if arg == "lp3" else (-6.0, -0.25, -0.15, -0.1, -0.05, -0.01)
  elif arg == "warm":
    c.loss.warm_start = True
    c.num_steps = c.eval_every = 3000 * len(c.loss.betas)
  return c

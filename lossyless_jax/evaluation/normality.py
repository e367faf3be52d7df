"""Distribution-matching and downstream tests of embeddings (noise-injected Deep InfoMax, §5).

- Normality (§5 "Distribution matching"): Shapiro–Wilk and D'Agostino–Pearson (`scipy.stats`) on a
  random projection u·x, u uniform on S^{d−1} ("the normality of any linear projection"), and the
  multivariate Henze–Zirkler test (Henze & Zirkler 1990) with the statistic and lognormal p-value of
  pingouin's ``multivariate_normality``. Each is reported as the mean p-value over bootstrapped
  subsamples (default 200 points × 200 repetitions, a fresh subsample and direction per repetition):
  under H0 the mean p-value is ≈ 0.5, and small subsamples keep slightly non-Gaussian samples from
  being rejected outright.
- The probability integral transform (§3.3): uniform embeddings are tested as Φ^{-1}(u); any target
  marginal F is reached post hoc by F^{-1}(Φ(x)) or F^{-1}(u) (Statement 3.7 keeps the KL bounds).
  The uniform target's marginals are also checked directly: per-coordinate KS against U(0, 1),
  10-bin histograms and the mass at the edges (Thm 3.5's optimum is discrete).
- Downstream (§5 "Classification and clustering"): GaussianNB, kNN (k = 5) and an MLP (one hidden
  layer of 128) trained on train embeddings, one-vs-rest macro ROC AUC on the test embeddings
  (scikit-learn), kNN accuracy, and the silhouette score of the test embeddings with the labels.
- ``mi_against_capacity``: the InfoNCE estimate against min(log N, C) (Eq. (5)/(6)).
"""
from __future__ import annotations

import math

import numpy as np
from scipy import stats

from lossyless_jax import progress

__all__ = ["henze_zirkler", "bootstrap_pvalues", "gaussianize", "to_marginal", "uniform_marginals", "moments",
           "downstream", "mi_against_capacity"]


def henze_zirkler(x) -> tuple:
  """(HZ statistic, p-value) of the (n, p) sample ``x`` or of a stack (R, n, p), p ≥ 2, n ≥ 3: pingouin's
  definition (biased covariance, pseudo-inverse, HZ = 4n for a rank-deficient covariance, lognormal p)."""
  x = np.asarray(x, np.float64)
  single = x.ndim == 2
  x = x[None] if single else x
  if x.ndim != 3:
    raise ValueError(f"x must be (n, p) or (R, n, p), got shape {x.shape}")
  _, n, p = x.shape
  if n < 3 or p < 2:
    raise ValueError(f"Henze–Zirkler needs n >= 3 points of dimension p >= 2, got n={n}, p={p}")
  xc = x - x.mean(1, keepdims=True)
  cov = np.einsum("rni,rnj->rij", xc, xc) / n
  gram = xc @ np.linalg.pinv(cov, hermitian=True) @ np.swapaxes(xc, 1, 2)  # (R, n, n) Mahalanobis products
  dj = np.diagonal(gram, axis1=1, axis2=2)
  djk = dj[:, :, None] + dj[:, None, :] - 2.0 * gram
  b2 = 0.5 * ((2 * p + 1) / 4) ** (2 / (p + 4)) * n ** (2 / (p + 4))  # b², b = ((2p + 1)/4)^{1/(p+4)} n^{1/(p+4)} / √2
  hz = n * (np.exp(-b2 / 2 * djk).mean((1, 2)) - 2 * (1 + b2) ** (-p / 2) * np.exp(-b2 / (2 * (1 + b2)) * dj).mean(1)
            + (1 + 2 * b2) ** (-p / 2))
  hz = np.where(np.linalg.matrix_rank(cov) == p, hz, 4.0 * n)
  a, wb = 1 + 2 * b2, (1 + b2) * (1 + 3 * b2)
  mu = 1 - a ** (-p / 2) * (1 + p * b2 / a + p * (p + 2) * b2 ** 2 / (2 * a ** 2))
  si2 = (2 * (1 + 4 * b2) ** (-p / 2) + 2 * a ** (-p) * (1 + 2 * p * b2 ** 2 / a ** 2 + 3 * p * (p + 2) * b2 ** 4 / (4 * a ** 4))
         - 4 * wb ** (-p / 2) * (1 + 3 * p * b2 ** 2 / (2 * wb) + p * (p + 2) * b2 ** 4 / (2 * wb ** 2)))
  pmu = np.log(np.sqrt(mu ** 4 / (si2 + mu ** 2)))
  psi = np.sqrt(np.log1p(si2 / mu ** 2))
  pval = stats.lognorm.sf(hz, psi, scale=np.exp(pmu))
  return (float(hz[0]), float(pval[0])) if single else (hz, pval)


def bootstrap_pvalues(x, seed: int = 0, size: int = 200, repetitions: int = 200) -> dict:
  """Mean p-values of the three tests over ``repetitions`` subsamples of ``size`` points of the (n, d)
  sample ``x`` (without replacement; each with its own uniform direction on S^{d−1} for the univariate
  tests): ``shapiro_p``, ``dagostino_p``, ``henze_zirkler_p`` (None for d = 1, and for d ≥ size, where
  every subsample's covariance is singular)."""
  x = np.asarray(x, np.float64)
  if x.ndim != 2 or x.shape[0] < size:
    raise ValueError(f"x must be (n >= size={size}, d), got shape {x.shape}")
  if size < 20:
    raise ValueError(f"size must be >= 20 (D'Agostino's kurtosis test), got {size}")
  rng = np.random.default_rng(seed)
  n, d = x.shape
  idx = np.stack([rng.choice(n, size, replace=False) for _ in range(repetitions)])
  sub = x[idx]  # (R, size, d)
  u = rng.normal(size=(repetitions, d))
  u /= np.linalg.norm(u, axis=1, keepdims=True)
  proj = np.einsum("rnd,rd->rn", sub, u)
  sw = np.array([stats.shapiro(row).pvalue for row in proj])
  dp = stats.normaltest(proj, axis=1).pvalue
  out = {"shapiro_p": float(sw.mean()), "dagostino_p": float(dp.mean()), "henze_zirkler_p": None}
  if 2 <= d < size:
    out["henze_zirkler_p"] = float(np.mean(np.concatenate([henze_zirkler(sub[s:s + 25])[1]
                                                           for s in range(0, repetitions, 25)])))
  return out


def gaussianize(u, clip: float = 1e-6) -> np.ndarray:
  """Φ^{-1}(u) coordinatewise (§3.3, §5), u clipped to [clip, 1 − clip] (a sigmoid saturates at 0 and 1)."""
  return stats.norm.ppf(np.clip(np.asarray(u, np.float64), clip, 1.0 - clip))


def to_marginal(x, target, source: str = "gauss") -> np.ndarray:
  """The post-hoc transform F^{-1}(Φ(x)) (``source='gauss'``) or F^{-1}(x) (``'uniform'``) of §3.3 to the
  marginal of the frozen `scipy.stats` distribution ``target`` (e.g. ``stats.laplace()``)."""
  if source not in ("gauss", "uniform"):
    raise ValueError(f"source must be 'gauss' or 'uniform', got {source!r}")
  x = np.asarray(x, np.float64)
  u = stats.norm.cdf(x) if source == "gauss" else np.clip(x, 0.0, 1.0)
  return target.ppf(u)


def uniform_marginals(u, bins: int = 10, edge: float = 0.02) -> dict:
  """Per-coordinate KS against U(0, 1) (``ks_uniform_stat``, ``ks_uniform_p``), ``histogram`` (counts
  in ``bins`` equal bins of [0, 1]) and the fractions below ``edge`` / above 1 − edge (``edge_low``,
  ``edge_high``) of an (n, d) sample."""
  u = np.asarray(u, np.float64)
  ks = [stats.kstest(u[:, j], "uniform") for j in range(u.shape[1])]
  return {"ks_uniform_stat": [float(k.statistic) for k in ks], "ks_uniform_p": [float(k.pvalue) for k in ks],
          "histogram": [np.histogram(u[:, j], bins, (0.0, 1.0))[0].astype(int).tolist() for j in range(u.shape[1])],
          "edge_low": [float(np.mean(u[:, j] < edge)) for j in range(u.shape[1])],
          "edge_high": [float(np.mean(u[:, j] > 1 - edge)) for j in range(u.shape[1])]}


def moments(x) -> dict:
  """Per-coordinate ``mean``, ``std``, ``skew``, ``excess_kurtosis`` and ``max_abs_correlation`` (the
  largest |off-diagonal Pearson correlation|; 0 for d = 1) of an (n, d) sample."""
  x = np.asarray(x, np.float64)
  corr = np.corrcoef(x, rowvar=False) if x.shape[1] > 1 else np.ones((1, 1))
  off = np.abs(corr[~np.eye(len(corr), dtype=bool)])
  return {"mean": x.mean(0).tolist(), "std": x.std(0).tolist(), "skew": stats.skew(x, axis=0).tolist(),
          "excess_kurtosis": stats.kurtosis(x, axis=0).tolist(),
          "max_abs_correlation": float(off.max()) if off.size else 0.0}


def downstream(x_train, y_train, x_test, y_test, seed: int = 0, mlp_hidden: int = 128) -> dict:
  """``gnb_auc``, ``knn_auc``, ``mlp_auc`` (one-vs-rest macro ROC AUC), ``knn_accuracy`` and
  ``silhouette`` (of the test embeddings with their labels), classifiers fit on the train split."""
  from sklearn.metrics import roc_auc_score, silhouette_score
  from sklearn.naive_bayes import GaussianNB
  from sklearn.neighbors import KNeighborsClassifier
  from sklearn.neural_network import MLPClassifier
  x_train, x_test = np.asarray(x_train, np.float64), np.asarray(x_test, np.float64)
  y_train, y_test = np.asarray(y_train), np.asarray(y_test)
  models = {"gnb": GaussianNB(), "knn": KNeighborsClassifier(5),
            "mlp": MLPClassifier((mlp_hidden,), max_iter=1000, random_state=seed)}
  out = {}
  for name, model in progress.phase("AUC probes", models.items(), unit="classifiers", label=lambda item: item[0]):
    model.fit(x_train, y_train)
    prob = model.predict_proba(x_test)
    out[f"{name}_auc"] = float(roc_auc_score(y_test, prob, multi_class="ovr", labels=model.classes_))
    if name == "knn":
      out["knn_accuracy"] = float(np.mean(model.classes_[prob.argmax(1)] == y_test))
  out["silhouette"] = float(silhouette_score(x_test, y_test))
  return out


def mi_against_capacity(mi_nats: float, capacity_nats: float | None, batch_size: int) -> dict:
  """``ceiling_nats`` = min(log N, C) (C = None: no noise, log N only) and ``gap_nats`` = ceiling − MI."""
  ceiling = math.log(batch_size) if capacity_nats is None else min(math.log(batch_size), capacity_nats)
  return {"ceiling_nats": ceiling, "gap_nats": ceiling - float(mi_nats)}

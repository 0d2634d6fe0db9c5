"""A Gaussian-process sampler for Optuna that needs no torch (scikit-learn's GP).

Optuna's own ``GPSampler`` is built on PyTorch, a dependency far larger than
everything else of oqtant together. This sampler does what M-LOOP's learner does
with scikit-learn: a Matern-5/2 kernel with one length scale per parameter plus
a white-noise term (shot-to-shot scatter is learned, not assumed away), fitted by
maximum likelihood; the next point maximises the expected improvement over the
best *predicted* value among the points tried (robust to a lucky noisy shot).
Points already asked but not yet measured (the rest of a batch) enter the fit at
their predicted value ("kriging believer"), so a batch spreads out.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    IntDistribution,
)
from optuna.samplers import BaseSampler, RandomSampler
from optuna.search_space import IntersectionSearchSpace
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState
from scipy.stats import norm

from oqtant.optimize._space import as_range

__all__ = ["SklearnGPSampler"]


class _Encoder:
    """Parameters <-> points of the unit cube (log ranges on a log scale; one-hot choices)."""

    def __init__(self, space: dict[str, BaseDistribution]):
        self.space = dict(sorted(space.items()))
        self.width = sum(
            len(d.choices) if isinstance(d, CategoricalDistribution) else 1
            for d in self.space.values()
        )

    def encode(self, params: dict[str, Any]) -> np.ndarray:
        out: list[float] = []
        for name, dist in self.space.items():
            value = params[name]
            if isinstance(dist, CategoricalDistribution):
                out.extend(float(c == value) for c in dist.choices)
                continue
            numeric = as_range(dist)
            if numeric.log:
                out.append(math.log(value / numeric.low) / math.log(numeric.high / numeric.low))
            else:
                out.append((value - numeric.low) / (numeric.high - numeric.low))
        return np.asarray(out)

    def decode(self, point: np.ndarray) -> dict[str, Any]:
        params: dict[str, Any] = {}
        i = 0
        for name, dist in self.space.items():
            if isinstance(dist, CategoricalDistribution):
                n = len(dist.choices)
                params[name] = dist.choices[int(np.argmax(point[i:i + n]))]
                i += n
                continue
            numeric = as_range(dist)
            u = float(np.clip(point[i], 0.0, 1.0))
            i += 1
            if numeric.log:
                value = numeric.low * (numeric.high / numeric.low) ** u
            else:
                value = numeric.low + u * (numeric.high - numeric.low)
            if isinstance(numeric, IntDistribution):
                value = numeric.low + round((value - numeric.low) / numeric.step) * numeric.step
                value = int(min(max(value, numeric.low), numeric.high))
            elif numeric.step is not None:
                value = numeric.low + round((value - numeric.low) / numeric.step) * numeric.step
            params[name] = min(max(value, numeric.low), numeric.high)
        return params

    def random(self, rng: np.random.Generator, n: int) -> np.ndarray:
        cols = []
        for dist in self.space.values():
            if isinstance(dist, CategoricalDistribution):
                k = len(dist.choices)
                cols.append(np.eye(k)[rng.integers(0, k, n)])
            else:
                cols.append(rng.random((n, 1)))
        return np.hstack(cols)


class SklearnGPSampler(BaseSampler):
    """Bayesian optimisation with a scikit-learn Gaussian process (single objective).

    Args:
        seed: seed of the random start and of the candidate points.
        n_startup_trials: points drawn at random before the GP takes over.
        n_candidates: random points scored by the acquisition function per ask
            (plus as many perturbations of the best points seen).
    """

    def __init__(self, seed: int | None = None, n_startup_trials: int = 8,
                 n_candidates: int = 2000):
        self._rng = np.random.default_rng(seed)
        self._random = RandomSampler(seed=seed)
        self._search_space = IntersectionSearchSpace()
        self.n_startup_trials = n_startup_trials
        self.n_candidates = n_candidates
        self._kernel = None  # the last fitted kernel: the next fit starts from it

    def reseed_rng(self) -> None:
        self._rng = np.random.default_rng()
        self._random.reseed_rng()

    def infer_relative_search_space(self, study, trial) -> dict[str, BaseDistribution]:
        return {
            name: dist for name, dist in self._search_space.calculate(study).items()
            if not dist.single()
        }

    def sample_relative(self, study, trial, search_space) -> dict[str, Any]:
        if not search_space:
            return {}
        if len(study.directions) > 1:
            raise ValueError("the GP sampler optimises one objective; use sampler='tpe'")
        trials = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.RUNNING))
        done = [t for t in trials if t.state == TrialState.COMPLETE and _has(t, search_space)]
        if len(done) < self.n_startup_trials:
            return {}
        pending = [t for t in trials if t.state == TrialState.RUNNING and t.number != trial.number
                   and _has(t, search_space)]
        encoder = _Encoder(search_space)
        sign = -1.0 if study.direction == StudyDirection.MAXIMIZE else 1.0
        x = np.array([encoder.encode(t.params) for t in done])
        y = sign * np.array([t.value for t in done], dtype=float)
        best = self._next_point(encoder, x, y, [encoder.encode(t.params) for t in pending])
        return encoder.decode(best)

    def _next_point(self, encoder: _Encoder, x: np.ndarray, y: np.ndarray,
                    pending: Sequence[np.ndarray]) -> np.ndarray:
        gp = _fit(x, y, self._rng, start=self._kernel)
        self._kernel = gp.kernel_
        if pending:  # kriging believer: the batch's other points count at their prediction
            xp = np.array(pending)
            x, y = np.vstack([x, xp]), np.concatenate([y, gp.predict(xp)])
            gp = _fit(x, y, self._rng, kernel=gp.kernel_)
        incumbent = float(np.min(gp.predict(x)))
        candidates = self._candidates(encoder, x, y)
        mean, std = gp.predict(candidates, return_std=True)
        score = _log_expected_improvement(incumbent - mean, np.maximum(std, 1e-12))
        return candidates[int(np.argmax(score))]

    def _candidates(self, encoder: _Encoder, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        wide = encoder.random(self._rng, self.n_candidates)
        best = x[np.argsort(y)[:5]]
        local = best[self._rng.integers(0, len(best), self.n_candidates)]
        for scale, rows in ((0.02, slice(0, None, 3)), (0.08, slice(1, None, 3)),
                            (0.2, slice(2, None, 3))):
            local[rows] += self._rng.normal(0.0, scale, local[rows].shape)
        return np.vstack([wide, np.clip(local, 0.0, 1.0)])

    def sample_independent(self, study, trial, param_name, param_distribution):
        return self._random.sample_independent(study, trial, param_name, param_distribution)

    def after_trial(self, study, trial, state, values) -> None:
        self._random.after_trial(study, trial, state, values)


def _has(trial: FrozenTrial, space: dict[str, BaseDistribution]) -> bool:
    return all(name in trial.params for name in space)


def _fit(x: np.ndarray, y: np.ndarray, rng: np.random.Generator, kernel=None, start=None):
    """A GP on (x, y): hyperparameters fitted (from ``start`` if given), or ``kernel`` as is."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.gaussian_process import GaussianProcessRegressor
    from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel

    fixed = kernel is not None
    warm = start is not None and not fixed
    if warm and start.get_params().get("k1__k2__length_scale") is not None and np.size(
            start.get_params()["k1__k2__length_scale"]) != x.shape[1]:
        warm = False
    if warm:
        kernel = start
    elif kernel is None:
        kernel = (ConstantKernel(1.0, (1e-2, 1e2))
                  * Matern(np.full(x.shape[1], 0.3), (1e-2, 1e1), nu=2.5)
                  + WhiteKernel(1e-2, (1e-6, 1.0)))
    gp = GaussianProcessRegressor(
        kernel=kernel, normalize_y=True, optimizer=None if fixed else "fmin_l_bfgs_b",
        n_restarts_optimizer=0 if fixed or warm else 1, random_state=int(rng.integers(2**31)),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        gp.fit(x, y)
    return gp


def _log_expected_improvement(gain: np.ndarray, std: np.ndarray) -> np.ndarray:
    """log EI for minimisation, stable where the improvement is many sigma away."""
    z = gain / std
    with np.errstate(divide="ignore"):
        direct = np.log(np.maximum(z * norm.cdf(z) + norm.pdf(z), 1e-300))
    # far in the tail: EI ~ pdf(z) / z^2
    tail = -0.5 * z**2 - 0.5 * math.log(2 * math.pi) - 2 * np.log(np.maximum(-z, 1e-12))
    return np.log(std) + np.where(z > -20, direct, tail)


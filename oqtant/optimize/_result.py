"""What an optimisation gives back: the best experiment, every trial, and two plots."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import optuna
from optuna.trial import FrozenTrial, TrialState

from oqtant._plotting import finish_figure
from oqtant.errors import ValidationError
from oqtant.matter.quantum_matter import QuantumMatter

from ._engines import ATTR_JOB, ATTR_RUNS

__all__ = ["OptimizationResult"]

ATTR_VALUES = "oqtant_values"
ATTR_SEM = "oqtant_sem"
ATTR_FAIL = "oqtant_fail_reason"
ATTR_FAILED_RUNS = "oqtant_failed_runs"


class OptimizationResult:
    """The study after the loop: best point, its matter, all trials, history and parameter plots.

    Attributes:
        study: the Optuna study (in the storage given to ``optimize``, if any).
        repeats: runs made at each point.
    """

    def __init__(self, study: optuna.Study, *, design: Callable, repeats: int,
                 matters: dict[int, QuantumMatter], client: Any = None):
        self.study = study
        self.repeats = repeats
        self._design = design
        self._matters = matters
        self._client = client

    def __repr__(self) -> str:
        done = self._complete()
        best = f", best {self.best_value:.4g}" if done and self._single() else ""
        return (f"OptimizationResult('{self.study.study_name}': {len(done)} point(s) scored of "
                f"{len(self.study.trials)}{best})")

    # ---- best

    def _single(self) -> bool:
        return len(self.study.directions) == 1

    def _complete(self) -> list[FrozenTrial]:
        return self.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))

    @property
    def best_trial(self) -> FrozenTrial:
        """The scored trial with the best mean value (single objective)."""
        if not self._single():
            raise ValidationError(
                "best_trial: a study of several objectives has no single best; use "
                "result.best_trials (the Pareto front)", [("direction", "one objective")])
        if not self._complete():
            raise ValidationError("best_trial: no run of this study was scored yet (all failed?)",
                                  [("trials", "at least one scored trial")])
        return self.study.best_trial

    @property
    def best_trials(self) -> list[FrozenTrial]:
        """The Pareto-optimal trials (every objective at once)."""
        return self.study.best_trials

    @property
    def best_params(self) -> dict[str, Any]:
        return dict(self.best_trial.params)

    @property
    def best_value(self) -> float:
        """The best point's objective: the mean of its repeats."""
        return _scored(self.best_trial)

    @property
    def best_sem(self) -> float:
        """Standard error of :attr:`best_value` (NaN with one repeat)."""
        sem = _first_sem(self.best_trial)
        return float("nan") if sem is None else sem

    @property
    def best_matter(self) -> QuantumMatter:
        """The best point's QuantumMatter (with its output: first repeat, or as fetched)."""
        trial = self.best_trial
        if trial.number in self._matters:
            return self._matters[trial.number]
        matter = self._design(dict(trial.params))
        job_id, runs = trial.user_attrs.get(ATTR_JOB), trial.user_attrs.get(ATTR_RUNS)
        if self._client is not None and job_id and runs:
            job = self._client.get_job(str(job_id), run=int(runs[0]))
            matter = QuantumMatter.from_oqtant_job(job, self._client)
        return matter

    # ---- table

    @property
    def trials(self):
        """One row per trial: number, state, value, sem, repeats' values, parameters, job, reason.

        A pandas DataFrame when pandas is installed, else a list of dictionaries.
        """
        rows = [self._row(t) for t in self.study.get_trials(deepcopy=False)]
        try:
            import pandas as pd
        except ImportError:
            return rows
        return pd.DataFrame(rows)

    def _row(self, trial: FrozenTrial) -> dict[str, Any]:
        attrs = trial.user_attrs
        values = trial.values if trial.values is not None else None
        row: dict[str, Any] = {"number": trial.number, "state": trial.state.name}
        if self._single():
            row["value"] = values[0] if values else None
            row["sem"] = _first_sem(trial)
        else:
            row["values"] = list(values) if values else None
            row["sem"] = attrs.get(ATTR_SEM)
        row["repeat_values"] = attrs.get(ATTR_VALUES)
        row.update({f"params_{k}": v for k, v in trial.params.items()})
        row["job_id"] = attrs.get(ATTR_JOB)
        row["runs"] = attrs.get(ATTR_RUNS)
        row["failed_runs"] = attrs.get(ATTR_FAILED_RUNS, 0)
        row["fail_reason"] = attrs.get(ATTR_FAIL)
        row["duration_s"] = (trial.duration.total_seconds() if trial.duration else None)
        return row

    # ---- plots

    def plot_history(self, file_name: str | None = None, objective_name: str = "objective"):
        """Each point's value (with its standard error) against the runs spent, and the best so far.

        Failed points are marked along the bottom. Returns the figure (None where shown).
        """
        import matplotlib.pyplot as plt

        self._require_single("plot_history")
        sign = 1.0 if self.study.direction.name == "MAXIMIZE" else -1.0
        trials = sorted(self.study.get_trials(deepcopy=False), key=lambda t: t.number)
        fig, ax = plt.subplots(figsize=(7, 4), layout="constrained")
        xs, ys, errs, best_x, best_y, failed = [], [], [], [], [], []
        best = -math.inf
        for i, trial in enumerate(trials, start=1):
            runs = i * self.repeats
            if trial.state != TrialState.COMPLETE:
                if trial.state == TrialState.FAIL:
                    failed.append(runs)
                continue
            value = _scored(trial)
            sem = _first_sem(trial)
            xs.append(runs)
            ys.append(value)
            errs.append(0.0 if sem is None else sem)
            best = max(best, sign * value)
            best_x.append(runs)
            best_y.append(sign * best)
        ax.errorbar(xs, ys, yerr=errs if self.repeats > 1 else None, fmt="o", ms=4, alpha=0.7,
                    color="C0", label=f"point (mean of {self.repeats})" if self.repeats > 1
                    else "point")
        ax.step(best_x, best_y, where="post", color="C1", lw=2, label="best so far")
        if failed:
            low = min(ys) if ys else 0.0
            ax.plot(failed, [low] * len(failed), "x", color="C3", label="failed (not scored)")
        ax.set_xlabel("runs")
        ax.set_ylabel(objective_name)
        ax.set_title(f"optimisation history of '{self.study.study_name}'")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        return finish_figure(fig, file_name, dpi=110)

    def plot_parameters(self, file_name: str | None = None, objective_name: str = "objective"):
        """The value of every scored point against each parameter, coloured by when it was tried.

        The best point is circled. Returns the figure (None where shown).
        """
        import matplotlib.pyplot as plt

        self._require_single("plot_parameters")
        done = sorted(self._complete(), key=lambda t: t.number)
        names = sorted({k for t in done for k in t.params})
        if not done:
            raise ValidationError("plot_parameters: no scored trial to plot",
                                  [("trials", "at least one scored trial")])
        cols = min(3, len(names))
        rows = math.ceil(len(names) / cols)
        fig, axes = plt.subplots(rows, cols, figsize=(4.4 * cols + 1.0, 3.4 * rows),
                                 squeeze=False, layout="constrained")
        order = np.array([t.number for t in done], dtype=float)
        best = self.best_trial
        for ax, name in zip(axes.flat, names, strict=False):
            points = [(t.params[name], t.value, t.number) for t in done if name in t.params]
            x = [p[0] for p in points]
            scatter = ax.scatter(x, [p[1] for p in points], c=[p[2] for p in points],
                                 cmap="viridis", s=18, vmin=order.min(), vmax=order.max())
            if name in best.params:
                ax.scatter([best.params[name]], [best.value], s=120, facecolors="none",
                           edgecolors="C3", lw=2, label="best")
            dist = best.distributions.get(name)
            if getattr(dist, "log", False):
                ax.set_xscale("log")
            ax.set_xlabel(name)
            ax.set_ylabel(objective_name)
            ax.grid(alpha=0.3)
        for ax in list(axes.flat)[len(names):]:
            ax.set_visible(False)
        fig.colorbar(scatter, ax=axes.ravel().tolist(), label="trial number")
        fig.suptitle(f"parameters of '{self.study.study_name}' (circled: best)")
        return finish_figure(fig, file_name, dpi=110)

    def _require_single(self, what: str) -> None:
        if not self._single():
            raise ValidationError(
                f"{what}: shows one objective; for several use optuna.visualization on "
                "result.study", [("direction", "one objective")])


def _scored(trial: FrozenTrial) -> float:
    """The objective of a completed trial of one objective."""
    if trial.value is None:
        raise ValueError(f"trial {trial.number} has no objective value")
    return float(trial.value)


def _first_sem(trial: FrozenTrial) -> float | None:
    """The standard error of a trial's (first) objective, None with one repeat."""
    sem = trial.user_attrs.get(ATTR_SEM)
    if isinstance(sem, list):
        sem = sem[0] if sem else None
    return None if sem is None else float(sem)

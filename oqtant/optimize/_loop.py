"""The closed loop: ask the sampler for points, make their runs, score them, tell the study."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution
from optuna.trial import TrialState
from pydantic import ValidationError as PydanticValidationError

from oqtant._progress import tqdm
from oqtant.errors import ValidationError
from oqtant.matter.quantum_matter import QuantumMatter

from ._engines import LocalEngine, Point, ServiceEngine, SimulatorEngine
from ._gp import SklearnGPSampler, _Encoder
from ._result import ATTR_FAIL, ATTR_FAILED_RUNS, ATTR_SEM, ATTR_VALUES, OptimizationResult
from ._space import describe_space, parse_space, space_centre

__all__ = ["SAMPLERS", "make_sampler", "optimize"]

SAMPLERS = ("gp", "tpe", "cmaes", "random", "qmc", "nelder-mead")
_STUDY_SPACE = "oqtant_space"
_STUDY_REPEATS = "oqtant_repeats"


def make_sampler(name: str, seed: int | None) -> optuna.samplers.BaseSampler:
    """The Optuna sampler called ``name`` (see :data:`SAMPLERS`; not 'nelder-mead')."""
    if name == "gp":
        return SklearnGPSampler(seed=seed)
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed, multivariate=True, constant_liar=True,
                                          n_startup_trials=8)
    if name == "cmaes":
        return optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "qmc":
        with warnings.catch_warnings():  # experimental in name only since Optuna 3
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.samplers.QMCSampler(seed=seed, warn_independent_sampling=False)
    raise ValidationError(f"sampler: must be one of {', '.join(SAMPLERS)} or an Optuna sampler "
                          f"(got {name!r})", [("sampler", f"one of {', '.join(SAMPLERS)}")])


def optimize(
    design: Callable[[dict[str, Any]], QuantumMatter],
    objective: Callable[[QuantumMatter], float | Sequence[float]],
    space: dict[str, Any],
    *,
    runs: int = 60,
    batch_size: int = 10,
    direction: str | Sequence[str] = "maximize",
    client: Any = None,
    sim: bool = False,
    sampler: str | optuna.samplers.BaseSampler = "gp",
    seed: int | None = 0,
    storage: str | None = None,
    study_name: str = "oqtant-optimize",
    repeats: int = 1,
    backend: Any = None,
    quota_timeout_s: float = 3600.0,
    job_timeout_s: float | None = None,
    progress: bool = True,
) -> OptimizationResult:
    """Find the parameters whose experiment makes the objective best, in at most ``runs`` runs.

    Args:
        design: parameters (a dict) -> the QuantumMatter to make.
        objective: a matter with its output -> a number (or a tuple, one per direction).
        space: ``{name: (low, high) | (low, high, "log") | (low, high, "int") | [choices]}``.
        runs: the budget in runs; each point costs ``repeats`` runs.
        batch_size: points asked at once (sent to the service as one job per
            ``max_runs_per_job`` runs).
        direction: "maximize" or "minimize" (a list of them for several objectives).
        client: an OqtantClient to run on the service; None runs locally.
        sim: run on the local Gross-Pitaevskii simulator (client must be None).
        sampler: "gp", "tpe", "cmaes", "random", "qmc", "nelder-mead" or an Optuna sampler.
        seed: seed of the sampler and of the emulator's runs.
        storage: an SQLAlchemy URL (``sqlite:///study.db``) to keep the study and resume it.
        study_name: the study's name in the storage.
        repeats: runs per point; the point's value is their mean (standard error kept).
        backend: what runs locally (``run(input_values, seed) -> RunResult``); the emulated
            apparatus if None.
        quota_timeout_s: longest wait for room in the service's queue before giving up.
        job_timeout_s: longest wait for one job (None: no limit).
        progress: show a progress bar over runs.
    """
    directions = _directions(direction)
    _check_args(design, objective, runs, batch_size, repeats, client, sim, sampler, directions,
                study_name)
    parsed = parse_space(space)
    _probe_design(design, parsed)
    engine = _engine(client, sim, backend, seed, study_name, quota_timeout_s, job_timeout_s)
    if isinstance(engine, ServiceEngine):
        engine.check_repeats(repeats)
    study = _study(storage, study_name, sampler, seed, directions, parsed, repeats)
    loop = _Loop(study, design, objective, parsed, engine, repeats, runs // repeats, progress)
    loop.recover()
    if sampler == "nelder-mead":
        loop.nelder_mead(seed)
    else:
        loop.run(batch_size)
    return OptimizationResult(study, design=design, repeats=repeats, matters=loop.matters,
                              client=client)


# --------------------------------------------------------------------------- checks


def _directions(direction: str | Sequence[str]) -> list[str]:
    items = [direction] if isinstance(direction, str) else list(direction)
    for item in items:
        if item not in ("maximize", "minimize"):
            raise ValidationError(f"direction: 'maximize' or 'minimize' (got {item!r})",
                                  [("direction", "maximize or minimize")])
    if not items:
        raise ValidationError("direction: give at least one", [("direction", "non-empty")])
    return items


def _positive_int(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValidationError(f"{name}: must be a whole number >= 1 (got {value!r})",
                              [(name, ">= 1")])


def _check_args(design, objective, runs, batch_size, repeats, client, sim, sampler, directions,
                study_name):
    for name, fn in (("design", design), ("objective", objective)):
        if not callable(fn):
            raise ValidationError(f"{name}: must be a function (got {fn!r})", [(name, "callable")])
    for name, value in (("runs", runs), ("batch_size", batch_size), ("repeats", repeats)):
        _positive_int(name, value)
    if runs < repeats:
        raise ValidationError(f"runs: a budget of {runs} run(s) is less than one point of "
                              f"{repeats} repeats", [("runs", ">= repeats")])
    if not isinstance(study_name, str) or not study_name.strip():
        raise ValidationError(f"study_name: must be non-empty text (got {study_name!r})",
                              [("study_name", "non-empty text")])
    if sim and client is not None:
        raise ValidationError("sim: the simulator runs in this process; give client=None with "
                              "sim=True", [("sim", "only with client=None")])
    if isinstance(sampler, str):
        if sampler not in SAMPLERS:
            make_sampler(sampler, None)  # raises the error naming the choices
        if sampler in ("gp", "nelder-mead") and len(directions) > 1:
            raise ValidationError(f"sampler: '{sampler}' optimises one objective; use 'tpe' for "
                                  "several", [("sampler", "tpe, random or qmc for several")])


def _probe_design(design: Callable, space: dict[str, BaseDistribution]) -> None:
    """Build the design at the centre of the space: a broken design fails before any run."""
    centre = space_centre(space)
    matter = _build(design, centre)
    if isinstance(matter, str):
        raise ValidationError(
            f"design: at the centre of the space {centre} it gives no valid experiment: {matter}",
            [("design", "must give a valid QuantumMatter")],
        )


def _build(design: Callable, params: dict[str, Any]) -> QuantumMatter | str:
    """The matter of a point, or why it is not a valid experiment."""
    try:
        matter = design(dict(params))
    except (ValidationError, PydanticValidationError) as err:
        return str(err)
    if not isinstance(matter, QuantumMatter):
        raise ValidationError(f"design: must return a QuantumMatter (got {type(matter).__name__})",
                              [("design", "returns a QuantumMatter")])
    try:
        matter.input  # noqa: B018 - checks every limit of the apparatus
    except (ValidationError, PydanticValidationError) as err:
        return str(err)
    return matter


def _engine(client, sim, backend, seed, study_name, quota_timeout_s, job_timeout_s):
    if client is not None:
        return ServiceEngine(client, study_name, quota_timeout_s=quota_timeout_s,
                             job_timeout_s=job_timeout_s)
    if sim:
        return SimulatorEngine()
    if backend is None:
        from oqtant.emulator import Apparatus

        backend = Apparatus()
    return LocalEngine(backend, seed)


def _study(storage, study_name, sampler, seed, directions, space, repeats) -> optuna.Study:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if storage is not None and storage.startswith("sqlite"):
        from optuna.storages import RDBStorage

        storage = RDBStorage(storage, engine_kwargs={"connect_args": {"timeout": 30}})
    existing = 0
    if storage is not None:
        try:
            existing = len(optuna.load_study(study_name=study_name, storage=storage).trials)
        except KeyError:
            existing = 0
    # a resumed study's sampler gets a fresh seed, so its random start does not replay
    seed_now = None if seed is None else seed + existing
    the_sampler = make_sampler(sampler, seed_now) if isinstance(sampler, str) and \
        sampler != "nelder-mead" else (optuna.samplers.RandomSampler(seed_now)
                                       if sampler == "nelder-mead" else sampler)
    study = optuna.create_study(storage=storage, study_name=study_name, sampler=the_sampler,
                                directions=directions, load_if_exists=True)
    described = describe_space(space)
    kept = study.user_attrs.get(_STUDY_SPACE)
    if kept is None:
        study.set_user_attr(_STUDY_SPACE, described)
        study.set_user_attr(_STUDY_REPEATS, repeats)
    elif kept != described or study.user_attrs.get(_STUDY_REPEATS) != repeats:
        raise ValidationError(
            f"study_name: the study '{study_name}' in this storage was made with another space "
            "or number of repeats; give a new study_name (or the same space and repeats)",
            [("study_name", "same space and repeats to resume")])
    if [d.name.lower() for d in study.directions] != directions:
        raise ValidationError(f"direction: the study '{study_name}' was made to "
                              f"{[d.name.lower() for d in study.directions]}",
                              [("direction", "as the stored study")])
    return study


# --------------------------------------------------------------------------- the loop


class _Budget(Exception):
    """The budget of runs is spent (stops scipy's Nelder-Mead)."""


class _Loop:
    def __init__(self, study, design, objective, space, engine, repeats, points,
                 progress) -> None:
        self.study, self.design, self.objective = study, design, objective
        self.space, self.engine, self.repeats, self.points = space, engine, repeats, points
        self.matters: dict[int, QuantumMatter] = {}
        self.storage = study._storage
        finished = self._count(TrialState.COMPLETE, TrialState.FAIL, TrialState.PRUNED)
        self.bar = tqdm(total=points * repeats, initial=min(finished, points) * repeats,
                        unit="run", desc="runs", disable=not progress, leave=True)

    def _count(self, *states: TrialState) -> int:
        return len(self.study.get_trials(deepcopy=False, states=states))

    # ---- points and their runs

    def set_attr(self, point: Point, key: str, value: Any) -> None:
        point.attrs[key] = value
        self.storage.set_trial_user_attr(point.trial_id, key, value)

    def _point(self, number: int, trial_id: int, params: dict, attrs: dict) -> Point | None:
        """A point ready to run, or None after marking its trial failed (invalid design)."""
        matters = []
        for _ in range(self.repeats):
            matter = _build(self.design, params)
            if isinstance(matter, str):
                self.storage.set_trial_user_attr(trial_id, ATTR_FAIL, f"invalid design: {matter}")
                self.study.tell(number, state=TrialState.FAIL)
                self.bar.update(self.repeats)
                return None
            matters.append(matter)
        return Point(number, trial_id, dict(params), matters, dict(attrs))

    def _score(self, point: Point) -> None:
        values, reasons = [], dict(point.failures)
        for i, matter in enumerate(point.matters):
            if i in reasons:
                continue
            try:
                value = self.objective(matter)
            except Exception:
                self.storage.set_trial_user_attr(point.trial_id, ATTR_FAIL, "the objective raised")
                self.study.tell(point.number, state=TrialState.FAIL)
                raise
            vector = _as_vector(value, len(self.study.directions))
            if vector is None:
                reasons[i] = f"the objective gave {value!r}, not a finite number"
            else:
                values.append(vector)
        set_attr = self.storage.set_trial_user_attr
        set_attr(point.trial_id, ATTR_FAILED_RUNS, len(reasons))
        if not values:
            set_attr(point.trial_id, ATTR_FAIL, "; ".join(sorted(set(reasons.values()))))
            self.study.tell(point.number, state=TrialState.FAIL)
        else:
            array = np.array(values)
            mean = array.mean(axis=0)
            sem = (array.std(axis=0, ddof=1) / math.sqrt(len(values)) if len(values) > 1
                   else np.full(array.shape[1], np.nan))
            set_attr(point.trial_id, ATTR_VALUES, array.tolist())
            set_attr(point.trial_id, ATTR_SEM, [None if np.isnan(s) else float(s) for s in sem])
            if reasons:
                set_attr(point.trial_id, ATTR_FAIL, "; ".join(sorted(set(reasons.values()))))
            self.study.tell(point.number, [float(m) for m in mean])
            self._keep(point)
        self.bar.update(self.repeats)

    def _keep(self, point: Point) -> None:
        """Keep the best point's matter (a simulated one holds its whole evolution)."""
        if len(self.study.directions) > 1:
            best = {t.number for t in self.study.best_trials}
            self.matters = {n: m for n, m in self.matters.items() if n in best}
            if point.number in best:
                self.matters[point.number] = point.ok()[0]
        elif self.study.best_trial.number == point.number:
            self.matters.clear()
            self.matters[point.number] = point.ok()[0]

    def _execute(self, points: list[Point | None]) -> None:
        ready = [p for p in points if p is not None]
        if ready:
            self.engine.run(ready, self.set_attr, self._score)

    # ---- drivers

    def recover(self) -> None:
        """Finish the trials an interrupted loop left running (fetched, never resubmitted)."""
        left = self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        # a trial interrupted while its parameters were drawn was never submitted: failed
        partial = [t for t in left if set(self.space) - set(t.params)]
        for t in partial:
            self.storage.set_trial_user_attr(
                t._trial_id, ATTR_FAIL, "interrupted before its parameters were drawn; never run"
            )
            self.study.tell(t.number, state=TrialState.FAIL)
        left = [t for t in left if t not in partial]
        self._execute([self._point(t.number, t._trial_id, t.params, t.user_attrs) for t in left])

    def _ask(self) -> Point | None:
        trial = self.study.ask(self.space)
        return self._point(trial.number, trial._trial_id, trial.params, {})

    def run(self, batch_size: int) -> None:
        try:
            while (left := self.points - len(self.study.trials)) > 0:
                self._execute([self._ask() for _ in range(min(batch_size, left))])
        finally:
            self.bar.close()

    def nelder_mead(self, seed: int | None) -> None:
        """scipy's Nelder-Mead on the unit cube, one point at a time; finished points reused."""
        from scipy.optimize import minimize

        if any(isinstance(d, CategoricalDistribution) for d in self.space.values()):
            raise ValidationError("sampler: 'nelder-mead' needs numeric parameters only; use "
                                  "'tpe' or 'gp' with choices", [("sampler", "numeric space")])
        encoder = _Encoder(self.space)
        sign = -1.0 if self.study.directions[0].name == "MAXIMIZE" else 1.0
        known = {_key(t.params): t for t in self.study.get_trials(deepcopy=False)
                 if t.state in (TrialState.COMPLETE, TrialState.FAIL)}
        worst = [0.0]

        def fun(u: np.ndarray) -> float:
            params = encoder.decode(u)
            trial = known.get(_key(params))
            if trial is None:
                if len(self.study.trials) >= self.points:
                    raise _Budget
                self.study.enqueue_trial(params)
                self._execute([self._ask()])
                trial = self.study.trials[-1]
                known[_key(params)] = trial
            if trial.state != TrialState.COMPLETE:
                return worst[0] + 1.0  # a failed point is worse than any seen
            value = sign * float(trial.value)
            worst[0] = max(worst[0], value)
            return value

        x0 = encoder.encode(space_centre(self.space))
        simplex = np.vstack([x0] + [np.clip(x0 + 0.25 * e, 0, 1) for e in np.eye(len(x0))])
        try:
            while len(self.study.trials) < self.points:
                minimize(fun, x0, method="Nelder-Mead", bounds=[(0.0, 1.0)] * len(x0),
                         options={"initial_simplex": simplex, "xatol": 1e-3, "fatol": 0.0,
                                  "maxfev": 10 * self.points})
                # converged early: restart from the best point with a smaller simplex
                best = self.study.best_trial
                x0 = encoder.encode(best.params)
                simplex = np.vstack([x0] + [np.clip(x0 + 0.1 * e, 0, 1) for e in np.eye(len(x0))])
        except _Budget:
            pass
        finally:
            self.bar.close()


def _key(params: dict[str, Any]) -> tuple:
    return tuple(sorted((k, round(v, 12) if isinstance(v, float) else v)
                        for k, v in params.items()))


def _as_vector(value: Any, n: int) -> list[float] | None:
    items = list(value) if isinstance(value, tuple | list | np.ndarray) else [value]
    try:
        numbers = [float(v) for v in items]
    except (TypeError, ValueError):
        return None
    if len(numbers) != n or not all(math.isfinite(v) for v in numbers):
        return None
    return numbers

"""The loop in this process: the emulator, failures, repeats, storage and resume, plots."""

from __future__ import annotations

import math

import numpy as np
import optuna
import pytest

from oqtant.optimize import optimize, run_seed
from oqtant.optimize._gp import SklearnGPSampler

from .helpers import CountingBackend, evap_design, tof_atoms

SPACE = {"final_mhz": (0.02, 2.0, "log"), "final_mw": (100.0, 500.0)}


def _states(result):
    return [row["state"] for row in result.trials]


@pytest.mark.slow
def test_emulator_path_scores_every_point_with_its_own_seed():
    """client=None: the emulated apparatus runs each point in this process, seed per run."""
    def condensed(matter):
        return matter.output.condensed_atom_number

    space = {"final_khz": (20.0, 150.0)}

    def design(p):
        return evap_design({"final_mhz": p["final_khz"] / 1000.0})

    first = optimize(design, condensed, space, runs=6, batch_size=3, sampler="tpe", seed=3,
                     progress=False)
    again = optimize(design, condensed, space, runs=6, batch_size=3, sampler="tpe", seed=3,
                     progress=False)
    assert _states(first) == ["COMPLETE"] * 6
    assert first.best_value == again.best_value  # the same seed makes the same study
    assert first.best_value > 1e3  # a condensate was found
    assert first.best_matter.output.condensed_atom_number == first.best_value
    seeds = [run_seed(3, n, 0) for n in range(6)]
    assert len(set(seeds)) == 6


def test_failed_runs_are_marked_failed_and_not_scored():
    backend = CountingBackend(fail_above_mhz=0.5)
    result = optimize(evap_design, tof_atoms, SPACE, runs=12, batch_size=4, sampler="random",
                      backend=backend, progress=False)
    rows = result.trials
    failed = [r for r in rows if r["state"] == "FAIL"]
    scored = [r for r in rows if r["state"] == "COMPLETE"]
    assert failed and scored
    assert all(r["params_final_mhz"] > 0.5 and r["value"] is None for r in failed)
    assert all("RF amplifier tripped" in r["fail_reason"] for r in failed)
    assert all(r["params_final_mhz"] <= 0.5 for r in scored)
    assert result.best_params["final_mhz"] <= 0.5
    assert len(backend.calls) == 12  # every point ran once; none was scored as a number


def test_points_outside_the_apparatus_limits_fail_without_running():
    """Only some points break a limit (RF above 25 MHz): those trials fail, with the reason."""
    backend = CountingBackend()
    result = optimize(evap_design, tof_atoms, {"final_mhz": (1.0, 40.0)}, runs=12,
                      batch_size=6, sampler="random", backend=backend, progress=False)
    invalid = [r for r in result.trials if r["params_final_mhz"] > 25.0]
    assert invalid
    assert all(r["state"] == "FAIL" and "frequencies_mhz" in r["fail_reason"] for r in invalid)
    assert all(final <= 25.0 for final, _ in backend.calls)
    assert len(backend.calls) == 12 - len(invalid)


def test_repeats_give_the_mean_and_its_standard_error():
    def noisy(matter):
        return tof_atoms(matter) * (1.0 + 0.1 * math.sin(matter.output.tof_atom_number))

    calls = []

    def objective(matter):
        value = noisy(matter) + len(calls) % 3  # a different value for each repeat
        calls.append(value)
        return value

    backend = CountingBackend()
    result = optimize(evap_design, objective, SPACE, runs=12, batch_size=2, repeats=3,
                      sampler="tpe", backend=backend, progress=False)
    assert len(result.trials) == 4 and len(backend.calls) == 12
    for row in result.trials:
        values = np.array(row["repeat_values"])[:, 0]
        assert len(values) == 3
        assert row["value"] == pytest.approx(values.mean())
        assert row["sem"] == pytest.approx(values.std(ddof=1) / math.sqrt(3))
    assert math.isfinite(result.best_sem)
    # the emulator seeds differ between the repeats of a point
    assert len({seed for _, seed in backend.calls}) == 12


def test_objective_giving_nan_fails_the_point():
    result = optimize(evap_design, lambda m: float("nan"), SPACE, runs=3, batch_size=3,
                      backend=CountingBackend(), progress=False)
    assert _states(result) == ["FAIL"] * 3
    assert "not a finite number" in result.trials[0]["fail_reason"]


def test_resume_from_storage_repeats_no_finished_run(tmp_path):
    url = f"sqlite:///{tmp_path / 'study.db'}"
    backend = CountingBackend()
    stop_after = 5
    seen = []

    def interrupted(matter):
        if len(seen) == stop_after:
            raise KeyboardInterrupt  # as Ctrl-C in the middle of a batch
        seen.append(matter.output.tof_atom_number)
        return tof_atoms(matter)

    with pytest.raises(KeyboardInterrupt):
        optimize(evap_design, interrupted, SPACE, runs=10, batch_size=3, sampler="tpe",
                 backend=backend, storage=url, progress=False)
    study = optuna.load_study(study_name="oqtant-optimize", storage=url)
    finished = [t for t in study.trials if t.state.is_finished()]
    assert len(finished) == stop_after
    calls_before = len(backend.calls)

    result = optimize(evap_design, tof_atoms, SPACE, runs=10, batch_size=3, sampler="tpe",
                      backend=backend, storage=url, progress=False)
    assert _states(result) == ["COMPLETE"] * 10
    # the interrupted batch's unscored point(s) ran again, finished ones did not
    assert len(backend.calls) - calls_before == 10 - stop_after
    assert len(backend.calls) == calls_before + 10 - stop_after


def test_resuming_with_another_space_is_refused(tmp_path):
    url = f"sqlite:///{tmp_path / 'study.db'}"
    optimize(evap_design, tof_atoms, SPACE, runs=2, backend=CountingBackend(), storage=url,
             progress=False)
    from oqtant.errors import ValidationError

    with pytest.raises(ValidationError, match="study_name: the study 'oqtant-optimize'"):
        optimize(evap_design, tof_atoms, {"final_mhz": (0.02, 1.0)}, runs=4,
                 backend=CountingBackend(), storage=url, progress=False)


def test_storage_is_an_ordinary_optuna_study(tmp_path):
    """What optuna-dashboard reads: the study, its trials, values and user attributes."""
    url = f"sqlite:///{tmp_path / 'study.db'}"
    optimize(evap_design, tof_atoms, SPACE, runs=4, backend=CountingBackend(), storage=url,
             study_name="evaporation", progress=False)
    [summary] = optuna.get_all_study_summaries(url)
    assert summary.study_name == "evaporation" and summary.n_trials == 4
    study = optuna.load_study(study_name="evaporation", storage=url)
    assert study.best_value == max(t.value for t in study.trials)
    assert "oqtant_seeds" in study.trials[0].user_attrs


@pytest.mark.parametrize("sampler", ["gp", "cmaes", "qmc", "nelder-mead"])
def test_every_sampler_spends_exactly_the_budget(sampler):
    backend = CountingBackend()
    result = optimize(evap_design, tof_atoms, SPACE, runs=10, batch_size=5, sampler=sampler,
                      backend=backend, progress=False)
    assert len(result.trials) == 10 and len(backend.calls) == 10
    # fewer atoms are lost with a lower knife in FastBackend: the optimum is the low bound
    assert result.best_params["final_mhz"] < 0.5


def test_multi_objective_gives_a_pareto_front():
    def two(matter):
        return tof_atoms(matter), matter.output.temperature_nk

    result = optimize(evap_design, two, SPACE, runs=8, batch_size=4, sampler="tpe",
                      direction=["maximize", "minimize"], backend=CountingBackend(),
                      progress=False)
    assert result.best_trials
    from oqtant.errors import ValidationError

    with pytest.raises(ValidationError, match="best_trial: a study of several objectives"):
        result.best_params  # noqa: B018


def test_gp_sampler_finds_the_minimum_of_a_noisy_bowl():
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    rng = np.random.default_rng(0)
    study = optuna.create_study(sampler=SklearnGPSampler(seed=1))

    def bowl(trial):
        x, y = trial.suggest_float("x", -2, 2), trial.suggest_float("y", -2, 2)
        return (x - 0.7) ** 2 + (y + 0.4) ** 2 + rng.normal(0, 0.01)

    study.optimize(bowl, n_trials=25)
    assert abs(study.best_params["x"] - 0.7) < 0.25 and abs(study.best_params["y"] + 0.4) < 0.25


def test_plots_are_saved_and_returned(tmp_path):
    result = optimize(evap_design, tof_atoms, SPACE, runs=6, batch_size=3, sampler="random",
                      backend=CountingBackend(fail_above_mhz=1.5), progress=False)
    history = result.plot_history(file_name=str(tmp_path / "history.png"))
    params = result.plot_parameters(file_name=str(tmp_path / "params.png"))
    assert (tmp_path / "history.png").stat().st_size > 1000
    assert (tmp_path / "params.png").stat().st_size > 1000
    assert history.axes[0].get_xlabel() == "runs"
    assert {ax.get_xlabel() for ax in params.axes} >= {"final_mhz", "final_mw"}


def test_progress_bar_counts_runs(capsys):
    optimize(evap_design, tof_atoms, SPACE, runs=4, batch_size=2, repeats=2, sampler="random",
             backend=CountingBackend(), progress=True)
    err = capsys.readouterr().err
    assert "runs" in err and "4/4" in err


def test_gp_sampler_keeps_integers_logs_and_choices_in_their_space():
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=SklearnGPSampler(seed=2, n_startup_trials=4))
    seen = []

    def mixed(trial):
        n = trial.suggest_int("n", 1, 64, log=True)
        k = trial.suggest_int("k", 0, 10, step=2)
        shape = trial.suggest_categorical("shape", ["GAUSSIAN", "SQUARE", "LORENTZIAN"])
        w = trial.suggest_float("w", 0.5, 50.0, log=True)
        seen.append((n, k, shape, w))
        return abs(math.log(n / 8)) + abs(k - 4) + (shape != "SQUARE") + abs(math.log(w / 3))

    study.optimize(mixed, n_trials=16)
    assert all(isinstance(n, int) and 1 <= n <= 64 for n, _, _, _ in seen)
    assert all(k in (0, 2, 4, 6, 8, 10) for _, k, _, _ in seen)
    assert all(0.5 <= w <= 50.0 for _, _, _, w in seen)
    assert study.best_value < min(t.value for t in study.trials[:4])  # the GP improved on its start

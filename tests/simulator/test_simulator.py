"""The Simulator of a run: apparatus-format outputs, convergence, warnings, errors, plots."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from oqtant.errors import SimulationError
from oqtant.schemas.job import (
    Barrier,
    InputValues,
    Laser,
    NonPlotOutput,
    PlotOutput,
    Pulse,
    RfEvaporation,
)
from oqtant.simulator import GridEdgeWarning, Simulator, SimulatorOptions
from oqtant.simulator.grid import LENGTH_UM, thomas_fermi_mu

RF = RfEvaporation(
    times_ms=[-1600, -1200, -800, -400, 0],
    frequencies_mhz=[17.0, 8.0, 4.0, 1.2, 0.045],
    powers_mw=[500.0, 500.0, 475.0, 360.0, 220.0],
)
BARRIER = Barrier(
    times_ms=[0, 6, 10], positions_um=[0, 0, 0], heights_khz=[0, 3, 3], widths_um=[1, 1, 1]
)
CROSS_SECTION_UM2 = 0.29069  # resonant, 3 lambda^2 / 2 pi at 780.24 nm: the TOF probe
IN_TRAP_CROSS_SECTION_UM2 = CROSS_SECTION_UM2 / 36.5  # the detuned in-trap probe


def in_trap(end_time_ms: float = 10.0, **kw) -> InputValues:
    return InputValues(end_time_ms=end_time_ms, image_type="IN_TRAP", rf_evaporation=RF, **kw)


def tof(end_time_ms: float = 0.0, tof_ms: float = 8.0) -> InputValues:
    return InputValues(
        end_time_ms=end_time_ms,
        image_type="TIME_OF_FLIGHT",
        time_of_flight_ms=tof_ms,
        rf_evaporation=RF,
    )


@pytest.fixture(scope="module")
def barrier_run():
    return Simulator(in_trap(optical_barriers=[BARRIER])).run(progress=False)


@pytest.fixture(scope="module")
def tof_run():
    return Simulator(tof()).run(progress=False)


def _axial(sim: Simulator) -> np.ndarray:
    x = np.linspace(-25.0, 25.0, 1001)
    return np.interp(x, sim.x_um, sim.get_axial_density(sim.end_time_ms)) * (x[1] - x[0])


def test_in_trap_output_is_the_machine_image(barrier_run):
    out = barrier_run.output
    assert isinstance(out.values, PlotOutput)
    image = out.values.it_plot
    assert (image.rows, image.columns, image.pixcal) == (148, 512, 0.344)
    od = np.array(image.pixels).reshape(148, 512)
    # optical density = cross-section x column density: summing it counts the atoms
    atoms = od.sum() * 0.344**2 / IN_TRAP_CROSS_SECTION_UM2
    assert atoms == pytest.approx(barrier_run.atom_number_final, rel=0.01)
    # the barrier at x = 0 has cut the cloud in two
    centre_row = od[74]
    assert centre_row[255:257].max() < 0.05 * centre_row.max()


def test_in_trap_image_is_the_state_at_end_time(barrier_run):
    x = np.linspace(-20, 20, 81)
    y = np.linspace(-3, 3, 13)
    column = barrier_run.in_trap_column_density(x, y)
    assert column.shape == (13, 81)
    assert np.allclose(column, barrier_run.get_column_density(10.0, x, y), rtol=1e-5, atol=1e-6)
    assert barrier_run.times_ms[-1] == pytest.approx(10.0)


def test_tof_output_is_the_machine_format(tof_run):
    out = tof_run.output
    assert isinstance(out.values, NonPlotOutput)
    v = out.values
    assert (v.tof_image.rows, v.tof_image.columns, v.tof_image.pixcal) == (100, 100, 4.4)
    assert (v.tof_fit_image.rows, v.tof_fit_image.columns) == (100, 100)
    assert v.condensed_atom_number == 10000 and v.thermal_atom_number == 0 and v.temperature_nk == 0
    od = np.array(v.tof_image.pixels).reshape(100, 100)
    assert od.sum() * 4.4**2 / CROSS_SECTION_UM2 == pytest.approx(1e4, rel=0.01)
    assert len(v.tof_x_slice.points) == 100 and len(v.tof_y_slice.points) == 100
    assert max(p["y"] for p in v.tof_x_slice.points) == pytest.approx(od.max())


def test_tof_with_zero_lifetime_still_expands(tof_run):
    x = np.linspace(-60, 60, 241)
    y = np.linspace(-60, 60, 241)
    before = tof_run.in_trap_column_density(x, y)
    after = tof_run.tof_column_density(x, y)

    def rms(col, axis):
        coord = y if axis == 0 else x
        profile = col.sum(axis=1 - axis)
        return np.sqrt(np.sum(profile * coord**2) / profile.sum())

    # radially the cloud grows by about omega_r t = 20 after 8 ms; axially far less
    assert rms(after, 0) / rms(before, 0) > 10
    assert rms(after, 0) > rms(after, 1)  # the aspect ratio has inverted
    assert tof_run.times_ms[-1] == pytest.approx(8.0)


def test_a_run_is_deterministic():
    a = Simulator(
        in_trap(2.0, optical_barriers=[Barrier(times_ms=[0, 2], heights_khz=[0, 2])])
    ).run(progress=False)
    b = Simulator(
        in_trap(2.0, optical_barriers=[Barrier(times_ms=[0, 2], heights_khz=[0, 2])])
    ).run(progress=False)
    assert a.output.values.it_plot.pixels == b.output.values.it_plot.pixels


def test_halving_the_step_or_doubling_the_grid_changes_the_density_little(barrier_run):
    reference = _axial(barrier_run)
    base = barrier_run.options
    finer_time = Simulator(
        in_trap(optical_barriers=[BARRIER]), options=SimulatorOptions(substeps=2 * 3)
    ).run(progress=False)
    finer_grid = Simulator(
        in_trap(optical_barriers=[BARRIER]),
        options=SimulatorOptions(
            axial_step_um=base.axial_step_um / 2, radial_step_um=base.radial_step_um / 2
        ),
    ).run(progress=False)
    assert finer_time.evolution.tsave.size == barrier_run.evolution.tsave.size
    for finer in (finer_time, finer_grid):
        l1 = np.abs(_axial(finer) - reference).sum() / reference.sum()
        assert l1 < 1e-3


def test_terminator_removes_atoms_where_it_shines():
    values = in_trap(2.0, lasers=[Laser(pulses=[Pulse(times_ms=[0.0, 2.0])])])
    sim = Simulator(values, atom_number=1e5).run(progress=False)
    assert sim.atom_number_final < 0.99e5
    profile = sim.get_axial_density(2.0)
    right = profile[sim.x_um > 10].sum()
    left = profile[sim.x_um < -10].sum()
    assert right < 0.9 * left  # the beam is centred at +30 um


def test_static_trap_keeps_every_atom_and_the_ground_state():
    sim = Simulator(in_trap(5.0)).run(progress=False)
    assert sim.atom_number_final == pytest.approx(1e4, rel=1e-9)
    first = sim.get_axial_density(0.0)
    last = sim.get_axial_density(5.0)
    assert np.abs(last - first).sum() / first.sum() < 1e-4


def test_atoms_reaching_the_grid_edge_give_a_warning():
    def tilt(times_ms, positions_um):
        # a steep linear potential pushing the cloud towards +x
        return np.broadcast_to(
            0.5 * (80.0 - positions_um), (len(times_ms), len(positions_um))
        ).copy()

    sim = Simulator(
        in_trap(10.0), potential_khz=tilt, options=SimulatorOptions(x_half_width_um=30.0)
    )
    with pytest.warns(GridEdgeWarning, match="edge of the simulation grid"):
        sim.run(progress=False)


def test_no_warning_for_a_cloud_well_inside():
    with warnings.catch_warnings():
        warnings.simplefilter("error", GridEdgeWarning)
        Simulator(in_trap(1.0)).run(progress=False)


def test_density_accessors_have_consistent_shapes_and_units(barrier_run):
    x, r = barrier_run.get_grids(5.0)
    density = barrier_run.get_density(5.0)
    assert density.shape == (r.size, x.size)
    axial = barrier_run.get_axial_density(5.0)
    assert axial.sum() * (x[1] - x[0]) == pytest.approx(1e4, rel=1e-5)
    phase = barrier_run.get_phase(5.0)
    assert phase.shape == density.shape and np.all(np.abs(phase) <= np.pi + 1e-12)
    current = barrier_run.get_current(5.0)
    assert current.shape == x.shape
    # the atoms flow away from the rising barrier: +x on the right, -x on the left
    assert current[(x > 2) & (x < 8)].mean() > 0 > current[(x < -2) & (x > -8)].mean()


def test_peak_density_matches_thomas_fermi_for_a_large_cloud():
    sim = Simulator(in_trap(0.0), atom_number=2e5).run(progress=False)
    n0 = sim.get_density(0.0).max()
    mu_khz = thomas_fermi_mu(2e5) * 0.05
    # n0 = mu / g with g = 4 pi hbar^2 a / m; in trap units n0 = mu / g / l^3
    from oqtant.simulator.grid import interaction_strength

    n0_tf = thomas_fermi_mu(2e5) / interaction_strength() / LENGTH_UM**3
    assert mu_khz == pytest.approx(5.3, rel=0.05)
    assert n0 == pytest.approx(n0_tf, rel=0.05)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"atom_number": 10.0}, "atom_number"),
        ({"atom_number": float("nan")}, "atom_number"),
        ({"potential_khz": 3.0}, "potential_khz"),
        ({"options": SimulatorOptions(substeps=0)}, "options.substeps"),
        ({"options": SimulatorOptions(max_nonlinear_phase=0.0)}, "options.max_nonlinear_phase"),
    ],
)
def test_bad_arguments_name_the_argument(kwargs, name):
    with pytest.raises(SimulationError, match=name):
        Simulator(in_trap(1.0), **kwargs)


def test_potential_of_the_wrong_shape_is_rejected():
    with pytest.raises(SimulationError, match="shape"):
        Simulator(in_trap(1.0), potential_khz=lambda t, x: np.zeros((len(t), 3))).run(
            progress=False
        )


def test_output_before_run_is_an_error():
    with pytest.raises(SimulationError, match="run"):
        _ = Simulator(in_trap(1.0)).output


def test_plots_and_animation_are_saved(tmp_path, barrier_run, tof_run):
    files = {
        "density.png": lambda f: barrier_run.show_density([0, 10], file_name=f),
        "phase.png": lambda f: barrier_run.show_phase([10], file_name=f),
        "column.png": lambda f: barrier_run.show_column_densities([10], file_name=f),
        "current.png": lambda f: barrier_run.show_current([5], file_name=f),
        "potential.png": lambda f: barrier_run.show_potential([5, 10], file_name=f),
        "final.png": lambda f: tof_run.show_final_result(file_name=f),
        "tof_density.png": lambda f: tof_run.show_density([8.0], file_name=f),
        "anim.gif": lambda f: barrier_run.animate_density(file_name=f, frame_interval=25),
    }
    import matplotlib.pyplot as plt

    for name, make in files.items():
        path = tmp_path / name
        make(str(path))
        plt.close("all")
        assert path.stat().st_size > 1000, name


def test_tof_image_counts_every_atom_of_a_split_moving_cloud():
    barrier = Barrier(
        times_ms=[0, 2, 4], positions_um=[0, 0, 0], heights_khz=[0, 5, 5], widths_um=[1, 1, 1]
    )
    values = InputValues(
        end_time_ms=4.0,
        image_type="TIME_OF_FLIGHT",
        time_of_flight_ms=10.0,
        rf_evaporation=RF,
        optical_barriers=[barrier],
    )
    sim = Simulator(values).run(progress=False)
    od = np.array(sim.output.values.tof_image.pixels).reshape(100, 100)
    assert od.sum() * 4.4**2 / CROSS_SECTION_UM2 == pytest.approx(sim.atom_number_final, rel=0.01)
    # the time-of-flight grid was widened to hold the flying atoms, not the in-trap one
    assert sim.expansion.grid.nx >= sim.grid.nx
    assert sim.expansion.grid.dx == pytest.approx(sim.grid.dx)


def test_column_densities_along_both_axes_count_the_same_atoms(barrier_run):
    column_zy, column_zx, slice_y, slice_x = barrier_run.get_column_densities(10.0)
    x, r = barrier_run.get_grids(10.0)
    side = np.linspace(-r[-1], r[-1], column_zy.shape[0])
    d = side[1] - side[0]
    atoms_zy = column_zy.sum() * d * d
    atoms_zx = column_zx.sum() * d * (x[1] - x[0])
    assert atoms_zy == pytest.approx(barrier_run.atom_number_final, rel=0.01)
    assert atoms_zx == pytest.approx(barrier_run.atom_number_final, rel=0.01)
    assert slice_x.shape == x.shape and slice_y.shape == side.shape
    assert np.allclose(column_zy, column_zy.T)  # cylindrical symmetry


@pytest.mark.parametrize(
    "name", ["Solitons_DarkSolitonCollectiveInTrap", "Solitons_DarkSolitonCollectiveTOF"]
)
def test_images_match_the_services_simulator_on_its_own_runs(name):
    # two runs the service's simulator answered (10 000 atoms, a barrier and a landscape
    # moving the cloud for 90 ms): the same image, the same scale
    import gzip
    import json

    from tests.conftest import REAL_JOBS_DIR

    with gzip.open(REAL_JOBS_DIR / f"{name}.json.gz") as f:
        job = json.loads(f.read())
    run = job["inputs"][0]
    wire = run["output"]["values"].get("it_plot") or run["output"]["values"]["tof_image"]
    theirs = np.array(wire["pixels"], float).reshape(wire["rows"], wire["columns"])
    sim = Simulator(InputValues.model_validate(run["values"]), atom_number=10_000).run(
        progress=False
    )
    ours = sim.in_trap_image() if "it_plot" in run["output"]["values"] else sim.tof_image()
    assert ours.shape == theirs.shape
    assert ours.sum() == pytest.approx(theirs.sum(), rel=0.02)
    assert ours.max() == pytest.approx(theirs.max(), rel=0.07)
    assert np.corrcoef(ours.ravel(), theirs.ravel())[0, 1] > 0.96
    assert np.abs(ours - theirs).sum() < 0.3 * theirs.sum()

"""Output objects: images, statistics, the fit on an output, and every plot."""

from __future__ import annotations

import gzip
import json
import warnings

import numpy as np
import pytest
from PIL import Image as PILImage
from PIL import ImageStat

from oqtant.errors import FitError, JobError, ValidationError
from oqtant.schemas.job import OqtantJob, OutputImageType, TofFit
from oqtant.schemas.output import (
    IN_TRAP_PIXCAL_UM,
    TOF_IMAGE_SHAPE,
    TOF_PIXCAL_UM,
    BimodalFit,
    OqtantNonPlotOutput,
    OqtantOutput,
    OqtantPlotOutput,
    bimodal_od,
    image_space,
    output_from_values,
    wire_image,
    wire_line_chart,
)

TRUE_PARAMS = [0.4, 10.0, 9.0, 1.5, 6.0, 8.0, 2.0, -1.0, 0.0]


def _tof_values(image: np.ndarray, **overrides) -> dict:
    """Output values of a TIME_OF_FLIGHT run holding ``image``."""
    centre_row, centre_col = image.shape[0] // 2, image.shape[1] // 2
    values = {
        "mot_fluorescence_image": wire_image(np.ones((4, 5)), 1.0).model_dump(),
        "tof_image": wire_image(image, TOF_PIXCAL_UM).model_dump(),
        "tof_fit_image": wire_image(np.zeros_like(image), TOF_PIXCAL_UM).model_dump(),
        "tof_fit": dict.fromkeys(TofFit.model_fields, 0.0),
        "tof_x_slice": wire_line_chart(np.arange(image.shape[1]), image[centre_row]).model_dump(),
        "tof_y_slice": wire_line_chart(
            np.arange(image.shape[0]), image[:, centre_col]
        ).model_dump(),
        "total_mot_atom_number": 1_000_000,
        "tof_atom_number": 50_000,
        "thermal_atom_number": 30_000,
        "condensed_atom_number": 20_000,
        "temperature_nk": 120,
    }
    values.update(overrides)
    return values


@pytest.fixture
def tof_output() -> OqtantNonPlotOutput:
    x, y = image_space(TOF_IMAGE_SHAPE)
    image = bimodal_od(x, y, TRUE_PARAMS) + np.random.default_rng(0).normal(
        0, 0.03, TOF_IMAGE_SHAPE
    )
    return OqtantNonPlotOutput.model_validate(_tof_values(image))


@pytest.fixture
def it_output() -> OqtantPlotOutput:
    x, y = image_space((148, 512))
    image = 1.5 * np.clip(1 - (x / 150) ** 2 - (y / 12) ** 2, 0, None) ** 1.5
    return OqtantPlotOutput.model_validate(
        {"it_plot": wire_image(image, IN_TRAP_PIXCAL_UM).model_dump()}
    )


def _real(real_job_paths, stem: str) -> tuple[OqtantJob, OqtantOutput]:
    path = next(p for p in real_job_paths if p.name.startswith(stem))
    job = OqtantJob.model_validate(json.loads(gzip.open(path).read()))
    return job, output_from_values(job.inputs[0].output.values)


def _assert_png_has_content(path):
    assert path.exists() and path.stat().st_size > 2000
    with PILImage.open(path) as png:
        assert png.format == "PNG"
        assert png.width > 200 and png.height > 200
        extrema = png.convert("L").getextrema()
        assert extrema[1] - extrema[0] > 100  # not blank
        assert max(ImageStat.Stat(png.convert("L")).stddev) > 10


# --------------------------------------------------------------------------- kinds and images


def test_output_kind_follows_the_values(tof_output, it_output):
    assert tof_output.image_type == OutputImageType.TIME_OF_FLIGHT
    assert it_output.image_type == OutputImageType.IN_TRAP
    assert isinstance(output_from_values(tof_output.model_dump()), OqtantNonPlotOutput)
    assert isinstance(output_from_values(it_output), OqtantPlotOutput)
    with pytest.raises(ValidationError, match="values"):
        output_from_values([1, 2, 3])


def test_images_have_their_shapes(tof_output, it_output):
    assert tof_output.TOF.shape == (100, 100)
    assert tof_output.IT is None
    assert it_output.IT.shape == (148, 512)
    assert it_output.TOF is None
    assert np.array_equal(tof_output.get_image_data(), tof_output.TOF)
    assert tof_output.get_image_data("MOT").shape == (4, 5)
    assert tof_output.get_image_data(OutputImageType.TIME_OF_FLIGHT_FIT).shape == (100, 100)
    assert it_output.get_image_data(OutputImageType.TIME_OF_FLIGHT_FIT) is None
    assert it_output.get_image_data(OutputImageType.MOT) is None
    with pytest.raises(ValidationError, match="image"):
        tof_output.get_image_data("SIDEWAYS")


def test_pixel_calibrations(tof_output, it_output):
    assert tof_output.get_image_pixcal(OutputImageType.TIME_OF_FLIGHT) == 4.4
    assert tof_output.get_image_pixcal("MOT") == 1.0
    assert it_output.get_image_pixcal(OutputImageType.IN_TRAP) == 0.344
    with pytest.raises(JobError, match="no TIME_OF_FLIGHT image"):
        it_output.get_image_pixcal(OutputImageType.TIME_OF_FLIGHT)


def test_pixcal_missing_from_the_file_falls_back_to_the_camera(tof_output):
    values = tof_output.model_dump()
    values["tof_image"]["pixcal"] = None
    assert (
        OqtantNonPlotOutput.model_validate(values).get_image_pixcal("TIME_OF_FLIGHT")
        == TOF_PIXCAL_UM
    )


def test_image_with_wrong_shape_is_read_as_a_square(tof_output):
    values = tof_output.model_dump()
    values["tof_fit_image"]["rows"] = values["tof_fit_image"]["columns"] = 2
    output = OqtantNonPlotOutput.model_validate(values)
    with pytest.warns(UserWarning, match="2 x 2 does not match its 10000 pixels"):
        assert output.get_image_data("TIME_OF_FLIGHT_FIT").shape == (100, 100)
    values["tof_image"] = {"pixels": list(range(12)), "rows": 5, "columns": 5, "pixcal": 4.4}
    with pytest.warns(UserWarning):
        assert OqtantNonPlotOutput.model_validate(values).TOF.shape in ((3, 4), (4, 3), (1, 12))
    values["tof_image"] = {"pixels": list(range(7)), "rows": 2, "columns": 2, "pixcal": 4.4}
    with pytest.warns(UserWarning):
        assert OqtantNonPlotOutput.model_validate(values).TOF.shape == (1, 7)


def test_image_space_is_centred(tof_output):
    (x, y), n_rows, n_cols = OqtantOutput.get_image_space(np.zeros((60, 80)))
    assert (n_rows, n_cols) == (60, 80)
    assert x.shape == y.shape == (60, 80)
    assert x[0, 0] == -40 and x[0, -1] == 39 and y[0, 0] == -30 and y[-1, 0] == 29
    (x0, y0), _, _ = OqtantOutput.get_image_space(np.zeros((60, 80)), centered="no")
    assert x0[0, 0] == 0 and y0[-1, 0] == 59
    (xd, _), n_rows, _ = tof_output.get_image_space()
    assert n_rows == 100 and xd[0, 50] == 0


def test_slices(tof_output, it_output):
    image = tof_output.TOF
    assert tof_output.get_slice("x") == pytest.approx(image[50].tolist())
    assert tof_output.get_slice("y") == pytest.approx(image[:, 50].tolist())
    assert it_output.get_slice("x") == pytest.approx(it_output.IT[74].tolist())
    with pytest.raises(ValidationError, match="axis"):
        tof_output.get_slice("z")


# --------------------------------------------------------------------------- statistics


def test_statistics(tof_output, it_output, capsys):
    assert tof_output.temperature == 120
    assert tof_output.mot_population == 1_000_000
    assert tof_output.thermal_population == 30_000
    assert tof_output.condensed_population == 20_000
    assert tof_output.total_population == 50_000
    assert tof_output.condensed_fraction == 0.4
    assert isinstance(tof_output.get_bimodal_fit_parameters, TofFit)
    tof_output.atom_statistics  # noqa: B018 - the property prints
    printed = capsys.readouterr().out
    assert "Temperature (nK): 120" in printed and "Condensed atoms: 20000" in printed
    assert it_output.temperature is None and it_output.condensed_fraction is None
    it_output.atom_statistics  # noqa: B018 - the property prints
    assert "only for TIME_OF_FLIGHT" in capsys.readouterr().out


def test_condensed_fraction_without_atoms(tof_output):
    values = tof_output.model_dump()
    values.update(thermal_atom_number=0, condensed_atom_number=0)
    assert OqtantNonPlotOutput.model_validate(values).condensed_fraction is None


def test_fields_lists_every_field(tof_output, capsys):
    tof_output.fields  # noqa: B018 - the property prints
    printed = capsys.readouterr().out
    for name in (
        "tof_image: image 100 x 100",
        "tof_fit:",
        "temperature_nk: 120",
        "tof_x_slice: line chart",
    ):
        assert name in printed


# --------------------------------------------------------------------------- fit on an output


def test_fit_bimodal_data2d_recovers_the_cloud(tof_output):
    params, cov, residual, r_squared = tof_output.fit_bimodal_data2D()
    assert params == pytest.approx(TRUE_PARAMS, rel=0.03, abs=0.2)
    assert cov.shape == (9, 9) and np.all(np.diag(cov) >= 0)
    assert residual.shape == (100, 100) and residual.std() == pytest.approx(0.03, rel=0.1)
    assert 0.9 < r_squared <= 1.0


def test_fit_bimodal_data2d_takes_start_and_bounds(tof_output):
    xi = [0.3, 8, 8, 1.2, 5, 7, 0, 0, 0]
    lb = [0, 1, 1, 0, 1, 1, -20, -20, -1]
    ub = [5, 30, 30, 5, 30, 30, 20, 20, 1]
    params, *_ = tof_output.fit_bimodal_data2D(xi, lb, ub)
    assert params == pytest.approx(TRUE_PARAMS, rel=0.03, abs=0.2)


def test_fit_needs_a_tof_output_with_atoms(it_output, tof_output):
    with pytest.raises(JobError, match="TIME_OF_FLIGHT"):
        it_output.fit_bimodal_data2D()
    values = tof_output.model_dump()
    values["tof_image"] = wire_image(
        np.random.default_rng(1).normal(0, 0.05, (100, 100)), 4.4
    ).model_dump()
    with pytest.raises(FitError, match="no atoms"):
        OqtantNonPlotOutput.model_validate(values).fit_bimodal_data2D()


# --------------------------------------------------------------------------- plots


def test_every_plot_saves_a_png(tof_output, it_output, tmp_path):
    tof_output.plot_tof(file_name=tmp_path / "tof.png", figsize=(5, 5))
    tof_output.plot_slice(file_name=tmp_path / "slice_x.png", axis="x")
    tof_output.plot_slice(file_name=tmp_path / "slice_y.png", axis="y", grid_on=True)
    tof_output.plot_tof_3d(file_name=tmp_path / "tof_3d.png", figsize=(5, 5))
    it_output.plot_it(file_name=tmp_path / "it.png", figsize=(8, 4))
    params, *_ = tof_output.fit_bimodal_data2D()
    for model in ("bimodal", "gaussian", "TF"):
        tof_output.plot_fit_results(
            params, model=model, file_name=tmp_path / f"fit_{model}.png", pix_cal=4.4
        )
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == sorted(
        [
            "tof.png",
            "slice_x.png",
            "slice_y.png",
            "tof_3d.png",
            "it.png",
            "fit_bimodal.png",
            "fit_gaussian.png",
            "fit_TF.png",
        ]
    )
    for path in tmp_path.iterdir():
        _assert_png_has_content(path)
    import matplotlib.pyplot as plt

    assert plt.get_fignums() == []  # no figure left open behind the user's back


def test_saving_where_no_folder_exists_names_the_file(tof_output, tmp_path):
    target = tmp_path / "missing" / "tof.png"
    with pytest.raises(ValidationError, match="file_name: cannot save the plot"):
        tof_output.plot_tof(file_name=target, figsize=(4, 4))
    import matplotlib.pyplot as plt

    assert plt.get_fignums() == []  # the figure was released


def test_plots_refuse_the_wrong_kind_of_output(tof_output, it_output, tmp_path):
    with pytest.raises(JobError):
        it_output.plot_tof(file_name=tmp_path / "x.png")
    with pytest.raises(JobError):
        tof_output.plot_it(file_name=tmp_path / "x.png")
    with pytest.raises(ValidationError, match="model"):
        tof_output.plot_fit_results(TRUE_PARAMS, model="lorentzian")
    with pytest.raises(ValidationError, match="fit_params"):
        tof_output.plot_fit_results([1, 2, 3])
    assert not list(tmp_path.iterdir())


# --------------------------------------------------------------------------- real job files


def test_real_tof_file(real_job_paths, tmp_path):
    job, output = _real(real_job_paths, "Solitons_FritschSolitons_Data_Dark_DS_hold_time_0")
    assert isinstance(output, OqtantNonPlotOutput)
    assert output.TOF.shape == (100, 100)
    assert output.get_image_pixcal("TIME_OF_FLIGHT") == 4.4
    assert output.get_image_data("MOT").shape == (352, 217)
    # the stored slices are the centre row and column of the image
    assert output.get_slice("x") == pytest.approx(output.TOF[50].tolist())
    assert output.get_slice("y") == pytest.approx(output.TOF[:, 50].tolist())
    params, _, _, r_squared = output.fit_bimodal_data2D()
    assert r_squared > 0.9
    assert 1.0 < params[0] + params[3] < 2.5  # peak OD of the cloud
    output.plot_tof(file_name=tmp_path / "real_tof.png", figsize=(6, 6))
    output.plot_slice(file_name=tmp_path / "real_slice.png")
    _assert_png_has_content(tmp_path / "real_tof.png")
    _assert_png_has_content(tmp_path / "real_slice.png")


def test_real_simulator_file_counts_its_atoms(real_job_paths):
    job, output = _real(real_job_paths, "Solitons_DarkSolitonCollectiveTOF")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # its MOT and fit images say 2 x 2
        assert output.get_image_data("MOT").shape == (100, 100)
    assert output.condensed_population == 10_000 and output.condensed_fraction == 1.0
    fit = output.fit_bimodal(time_of_flight_ms=job.input.time_of_flight_ms)
    # 10 000 simulated atoms, counted back from the optical density
    assert fit.integrated_atom_number == pytest.approx(10_000, rel=0.05)
    assert fit.total_atom_number == pytest.approx(10_000, rel=0.05)
    assert fit.condensed_fraction > 0.95
    # after the flight the condensate is wider across (y) than along the trap axis (x)
    assert fit.params[5] > 2 * fit.params[4]


@pytest.mark.parametrize(
    "stem", ["Solitons_DarkSolitonCollectiveInTrap", "Superlattice_PatternedLoading_Data_NoPattern"]
)
def test_real_in_trap_files(real_job_paths, stem, tmp_path):
    _, output = _real(real_job_paths, stem)
    assert isinstance(output, OqtantPlotOutput)
    assert output.IT.shape[0] == 148 and output.IT.shape[1] in (503, 512)
    assert output.get_image_pixcal("IN_TRAP") == 0.344
    assert 1.0 < output.IT.max() < 5.0  # peak column density in OD
    output.plot_it(file_name=tmp_path / "it.png", figsize=(10, 4))
    _assert_png_has_content(tmp_path / "it.png")


# --------------------------------------------------------------------------- a saturating camera


def _saturated_output(saturation_od: float = 2.2) -> tuple[OqtantNonPlotOutput, list[float]]:
    """A TOF output whose camera reads at most ``saturation_od``, with the fit the machine stored."""
    x, y = image_space(TOF_IMAGE_SHAPE)
    true = [0.5, 9.0, 8.0, 9.0, 5.0, 9.0, 0.4, -0.3, 0.0]  # the condensate's centre: OD 9.5
    # the light of each pixel, integrated over it, a share exp(-saturation_od) passing by
    clean = bimodal_od(x, y, true, subpixels=7, saturation_od=saturation_od)
    image = clean + np.random.default_rng(1).normal(0, 0.026, TOF_IMAGE_SHAPE)
    values = _tof_values(image)
    values["tof_fit"] = dict(zip(TofFit.model_fields, true, strict=True))
    values["tof_fit_image"] = wire_image(clean, TOF_PIXCAL_UM).model_dump()
    return OqtantNonPlotOutput.model_validate(values), true


def test_the_stored_fit_tells_the_cameras_saturation_and_refits_use_it(tmp_path):
    output, true = _saturated_output(2.2)
    assert output.camera_saturation_od() == pytest.approx(2.2, abs=1e-3)
    assert output.TOF.max() < 2.4 < true[3]
    fit = output.fit_bimodal()
    assert fit.saturation_od == pytest.approx(output.camera_saturation_od())
    stored = BimodalFit(
        np.array(true), np.zeros((9, 9)), None, None, 1.0, TOF_PIXCAL_UM, thermal_profile="bose"
    )
    assert fit.params[3] > 2 * output.TOF.max()  # the centre the camera could not see
    assert fit.condensed_atom_number == pytest.approx(stored.condensed_atom_number, rel=0.05)
    assert fit.thermal_atom_number == pytest.approx(stored.thermal_atom_number, rel=0.05)
    assert fit.params[1] == pytest.approx(true[1], rel=0.05)
    naive = output.fit_bimodal(saturation_od=None)
    assert naive.condensed_atom_number < 0.7 * stored.condensed_atom_number
    output.plot_slice(file_name=tmp_path / "slice.png")
    output.plot_fit_results(fit.params, file_name=tmp_path / "fit.png")
    _assert_png_has_content(tmp_path / "slice.png")


def test_an_unsaturated_or_unfitted_output_has_no_saturation(tof_output, real_job_paths):
    assert tof_output.camera_saturation_od() is None  # its stored fit is all zeros
    _, real = _real(real_job_paths, "Solitons_FritschSolitons_Data_Dark_DS_hold_time_0")
    assert real.camera_saturation_od() is None
    _, simulated = _real(real_job_paths, "Solitons_DarkSolitonCollectiveTOF")
    assert simulated.camera_saturation_od() is None

"""The demonstration behind ``make demo``: design, queue, run and look at matter.

1. Designs the two standard jobs with the user objects (QuantumMatterFactory),
   validates them and saves their potential and RF-ramp plots.
2. Starts an embedded server (SQLite in the output directory, a local process
   pool, the emulated apparatus), creates a demo user and logs in.
3. Submits the two standard jobs and a five-run barrier-height sweep (one job),
   follows them with a progress bar, prints atom statistics, saves result plots
   and job files, stops the server and tells where everything is.

Everything is written under ``demo_output/`` (``--output`` to change it); the
user's own server data are left alone.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, TextIO

import httpx
import numpy as np

__all__ = ["main", "EmbeddedServer", "free_port", "design_standard_matter", "SWEEP_HEIGHTS_KHZ"]

#: barrier heights of the sweep (one run each), E/h in kHz
SWEEP_HEIGHTS_KHZ = [0.0, 5.0, 10.0, 20.0, 40.0]
DEMO_USER = "demo"
DEMO_PASSWORD = "demo-password-not-secret"


def free_port() -> int:
    """A TCP port on the loopback interface that nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class EmbeddedServer:
    """An ``oqtant serve`` process on a free loopback port, stopped on exit.

    Args:
        data_dir: where the server keeps its secret key (and the SQLite file by default).
        database_url: the database; a SQLite file in ``data_dir`` if None.
        workers: size of the server's process pool.
        backend: ``package.module:Class`` of the apparatus backend (the server's default if None).
        log_file: where the server's output goes.
        extra_env: more environment variables for the server.
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        database_url: str | None = None,
        workers: int = 2,
        backend: str | None = None,
        log_file: Path | None = None,
        extra_env: dict[str, str] | None = None,
        startup_timeout_s: float = 90.0,
    ):
        self.data_dir = Path(data_dir).resolve()
        self.database_url = database_url or f"sqlite:///{self.data_dir / 'oqtant.db'}"
        self.workers = workers
        self.backend = backend
        self.log_file = Path(log_file) if log_file else self.data_dir / "server.log"
        self.extra_env = dict(extra_env or {})
        self.startup_timeout_s = startup_timeout_s
        self.port = 0
        self.process: subprocess.Popen | None = None
        self._log: TextIO | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def env(self) -> dict[str, str]:
        """The environment of the server and of its command-line tools."""
        env = dict(os.environ)
        env.update(
            OQTANT_DATA_DIR=str(self.data_dir),
            OQTANT_DATABASE_URL=self.database_url,
            OQTANT_URL=self.url,
        )
        if self.backend:
            env["OQTANT_BACKEND"] = self.backend
        env.update(self.extra_env)
        return env

    def cli(self, *args: str, input: str | None = None, timeout_s: float = 120) -> str:
        """Run ``python -m oqtant.cli ARGS`` against this server's database; return its output."""
        done = subprocess.run(
            [sys.executable, "-m", "oqtant.cli", *args],
            input=input, capture_output=True, text=True, env=self.env, timeout=timeout_s,
        )
        if done.returncode != 0:
            raise RuntimeError(
                f"oqtant {' '.join(args)} failed ({done.returncode}):\n{done.stderr or done.stdout}"
            )
        return done.stdout

    def start(self) -> EmbeddedServer:
        """Start the server and wait until ``/healthz`` answers."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if not self.database_url.startswith("sqlite"):
            # a shared database is migrated deliberately; the server refuses an old schema
            self.cli("db", "upgrade")
        self.port = free_port()
        self._log = open(self.log_file, "w")  # noqa: SIM115 - closed in stop()
        command = [sys.executable, "-m", "oqtant.cli", "serve", "--port", str(self.port),
                   "--workers", str(self.workers)]
        self.process = subprocess.Popen(
            command, stdout=self._log, stderr=subprocess.STDOUT, env=self.env,
            start_new_session=True,
        )
        deadline = time.monotonic() + self.startup_timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.stop()
                raise RuntimeError(
                    f"the server exited with code {self.process.returncode} at start:\n"
                    + self.log_file.read_text()[-3000:]
                )
            try:
                if httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(
            f"the server did not answer on {self.url} within {self.startup_timeout_s:.0f} s:\n"
            + self.log_file.read_text()[-3000:]
        )

    def stop(self) -> None:
        """Stop the server (politely, then firmly)."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> EmbeddedServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# --------------------------------------------------------------------------- design


def design_standard_matter(qmf) -> dict[str, Any]:
    """The two standard jobs and the barrier sweep, built with the user objects.

    Returns:
        ``{"bec": QuantumMatter, "barrier": QuantumMatter, "sweep": [QuantumMatter, ...]}``
    """
    from oqtant.standard_jobs import barrier_manipulator_job, ultracold_matter_job

    ramp = ultracold_matter_job["inputs"][0]["values"]["rf_evaporation"]
    rf_bec = qmf.create_rf_evap(
        times=ramp["times_ms"], frequencies=ramp["frequencies_mhz"], powers=ramp["powers_mw"]
    )
    bec = qmf.create_quantum_matter(
        name="Ultracold matter (standard)", image="TIME_OF_FLIGHT", time_of_flight=8.0,
        lifetime=0.0, rf_evap=rf_bec,
    )
    bar = barrier_manipulator_job["inputs"][0]["values"]
    rf_bar = qmf.create_rf_evap(
        times=bar["rf_evaporation"]["times_ms"],
        frequencies=bar["rf_evaporation"]["frequencies_mhz"],
        powers=bar["rf_evaporation"]["powers_mw"],
    )
    spec = bar["optical_barriers"][0]
    barrier = qmf.create_barrier(
        positions=spec["positions_um"], heights=spec["heights_khz"], widths=spec["widths_um"],
        times=spec["times_ms"], shape=spec["shape"], interpolation=spec["interpolation"],
    )
    manipulator = qmf.create_quantum_matter(
        name="Barrier manipulator (standard)", image="IN_TRAP", lifetime=bar["end_time_ms"],
        time_of_flight=bar["time_of_flight_ms"], rf_evap=rf_bar, barriers=[barrier],
    )
    sweep = []
    for height in SWEEP_HEIGHTS_KHZ:
        # the barrier grows from nothing over 10 ms, then holds while the cloud settles
        grown = qmf.create_barrier(
            positions=[0.0, 0.0, 0.0], heights=[0.0, height, height], widths=[2.0, 2.0, 2.0],
            times=[0.0, 10.0, 20.0], shape="GAUSSIAN", interpolation="LINEAR",
        )
        sweep.append(qmf.create_quantum_matter(
            name=f"Barrier sweep {height:g} kHz", image="IN_TRAP", lifetime=20.0,
            rf_evap=rf_bar, barriers=[grown], note=f"barrier height {height:g} kHz",
        ))
    return {"bec": bec, "barrier": manipulator, "sweep": sweep}


def _save(plot, path: Path, **kwargs: Any) -> Path:
    """Call a ``show_*`` method with ``file_name``; make sure a PNG lands at ``path``."""
    import matplotlib.pyplot as plt

    plt.close("all")
    try:
        plot(file_name=str(path), **kwargs)
    except TypeError:
        plot(**kwargs)
    if not path.exists():
        plt.gcf().savefig(path, dpi=120, bbox_inches="tight")
    plt.close("all")
    return path


def _design(out: Path) -> dict[str, Any]:
    from oqtant.matter import QuantumMatterFactory
    from oqtant.schemas.job import InputValues
    from oqtant.standard_jobs import barrier_manipulator_job, ultracold_matter_job

    print("== 1. Designing the standard jobs with QuantumMatterFactory")
    qmf = QuantumMatterFactory()
    matter = design_standard_matter(qmf)
    standard = {
        "bec": InputValues(**ultracold_matter_job["inputs"][0]["values"]),
        "barrier": InputValues(**barrier_manipulator_job["inputs"][0]["values"]),
    }
    for key in ("bec", "barrier"):
        designed = matter[key].input
        same = designed.model_dump() == standard[key].model_dump()
        print(f"   {matter[key].name}: job type {matter[key].job_type}, "
              f"{'identical to' if same else 'DIFFERENT from'} the standard job")
    plots = [
        _save(matter["bec"].show_rf_dynamics, out / "design_rf_ramp.png"),
        _save(matter["barrier"].show_potential, out / "design_barrier_potential.png",
              times=[0.0, 2.0, 5.0, 20.0]),
        _save(matter["barrier"].show_barrier_dynamics, out / "design_barrier_dynamics.png"),
    ]
    for p in plots:
        print(f"   saved {p}")
    return matter


# --------------------------------------------------------------------------- results


def _image(img) -> np.ndarray:
    from oqtant.schemas.images import image_array

    return image_array(img)


def _plot_tof(values, title: str, path: Path) -> Path:
    import matplotlib.pyplot as plt

    od = _image(values.tof_image)
    cal = values.tof_image.pixcal or 1.0
    half_x, half_y = od.shape[1] * cal / 2, od.shape[0] * cal / 2
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    shown = ax.imshow(od, origin="lower", cmap="viridis",
                      extent=(-half_x, half_x, -half_y, half_y))
    fig.colorbar(shown, ax=ax, label="optical density")
    # the cloud fills the middle of the camera's field: show that half
    ax.set_xlim(-half_x / 2, half_x / 2)
    ax.set_ylim(-half_y / 2, half_y / 2)
    ax.set_xlabel("x (µm)")
    ax.set_ylabel("y (µm)")
    ax.set_title(f"{title}\nT = {values.temperature_nk} nK, "
                 f"N_BEC = {values.condensed_atom_number:,}, N_th = {values.thermal_atom_number:,}")
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return path


def _axial_profile(values) -> tuple[np.ndarray, np.ndarray]:
    """Column density integrated over y, against x in um (centred)."""
    image = _image(values.it_plot)
    cal = values.it_plot.pixcal or 1.0
    profile = image.sum(axis=0) * cal
    x_um = (np.arange(image.shape[1]) - (image.shape[1] - 1) / 2) * cal
    return x_um, profile


def _plot_in_trap(values, title: str, path: Path) -> Path:
    import matplotlib.pyplot as plt

    image = _image(values.it_plot)
    cal = values.it_plot.pixcal or 1.0
    half_x, half_y = image.shape[1] * cal / 2, image.shape[0] * cal / 2
    fig, ax = plt.subplots(figsize=(8, 3))
    # the colour scale ends at the bright cloud, not at the photon noise of single pixels
    top = float(np.percentile(image, 99.9))
    shown = ax.imshow(image, origin="lower", cmap="viridis", aspect="auto", vmax=top,
                      extent=(-half_x, half_x, -half_y, half_y))
    fig.colorbar(shown, ax=ax, label="optical density (in-trap probe)")
    ax.set_xlabel("x (µm)")
    ax.set_ylabel("y (µm)")
    ax.set_title(title)
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return path


def _plot_sweep(profiles: list[tuple[float, np.ndarray, np.ndarray]], path: Path) -> Path:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for height, x_um, profile in profiles:
        ax.plot(x_um, profile, label=f"{height:g} kHz")
    ax.axvline(0.0, color="gray", lw=0.8, ls="--")
    ax.set_xlim(-80, 80)
    ax.set_xlabel("x (µm)")
    ax.set_ylabel("column density integrated over y")
    ax.set_title("In-trap density at 20 ms against barrier height (barrier at x = 0)")
    ax.legend(title="barrier height")
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return path


def _job_id(job_id: str | None) -> str:
    """The id of a job submitted to the service (only a simulation has none)."""
    if job_id is None:
        raise RuntimeError("the service gave no job id for a submitted job")
    return job_id


def _run_service(out: Path, matter: dict[str, Any], workers: int) -> list[Path]:
    from oqtant.client import OqtantClient
    from oqtant.client.login import ClientSettings, password_login
    from oqtant.schemas.job import NonPlotOutput

    written: list[Path] = []
    print("\n== 2. Starting an embedded server (SQLite in the output directory)")
    # every demo starts from an empty database, so that it can be run again and again
    shutil.rmtree(out / "server", ignore_errors=True)
    with EmbeddedServer(out / "server", workers=workers, log_file=out / "server.log") as server:
        print(f"   listening on {server.url} (log: {out / 'server.log'})")
        server.cli("user", "add", DEMO_USER, "--password-stdin", input=DEMO_PASSWORD + "\n")
        settings = ClientSettings(url=server.url, poll_interval_s=0.5)
        token = password_login(DEMO_USER, DEMO_PASSWORD, settings=settings)
        client = OqtantClient(settings=settings, token=token)
        print(f"   logged in as '{DEMO_USER}' (user id {client.external_user_id})")
        client.check_version()
        client.show_job_limits()

        print("\n== 3. Submitting the standard jobs and a 5-run barrier sweep")
        for m in (matter["bec"], matter["barrier"], *matter["sweep"]):
            m.client = client
        bec_id = _job_id(client.submit(matter["bec"]))
        barrier_id = _job_id(client.submit(matter["barrier"]))
        first = client.submit_list_as_batch(matter["sweep"], name="Barrier height sweep")
        sweep_id = _job_id(first.job_id)
        client.show_queue_status()
        jobs = [client.get_job(j) for j in (bec_id, barrier_id, sweep_id)]
        client.track_jobs(jobs, timeout_s=900)

        print("\n== 4. Results")
        bec = client.get_job(bec_id)
        v = bec.inputs[0].output.values if bec.inputs[0].output else None
        if isinstance(v, NonPlotOutput):  # a time-of-flight run's numbers
            total = v.condensed_atom_number + v.thermal_atom_number
            fraction = v.condensed_atom_number / total if total else 0.0
            print(f"   {bec.name} [{bec.status}]")
            print(f"     MOT atoms            {v.total_mot_atom_number:>12,}")
            print(f"     atoms after TOF      {v.tof_atom_number:>12,}")
            print(f"     condensed atoms      {v.condensed_atom_number:>12,}")
            print(f"     thermal atoms        {v.thermal_atom_number:>12,}")
            print(f"     condensed fraction   {fraction:>12.2f}")
            print(f"     temperature          {v.temperature_nk:>9} nK")
            written.append(_plot_tof(v, bec.name, out / "result_bec_tof.png"))
        else:
            print(f"   {bec.name}: {bec.status}, no output")
        manip = client.get_job(barrier_id)
        if manip.inputs[0].output:
            written.append(_plot_in_trap(manip.inputs[0].output.values, manip.name,
                                         out / "result_barrier_in_trap.png"))
        print(f"   {manip.name} [{manip.status}]")
        profiles = []
        print("   Barrier sweep: density at the barrier relative to the cloud's peak")
        for run, height in enumerate(SWEEP_HEIGHTS_KHZ, start=1):
            job = client.get_job(sweep_id, run=run)
            if job.inputs[0].output is None:
                print(f"     {height:5.1f} kHz  (run {run}: no output, job {job.status})")
                continue
            x_um, profile = _axial_profile(job.inputs[0].output.values)
            peak = profile.max() if profile.max() > 0 else 1.0
            at_barrier = profile[np.argmin(np.abs(x_um))] / peak
            print(f"     {height:5.1f} kHz  n(0)/n_max = {at_barrier:.2f}")
            profiles.append((height, x_um, profile))
            jobs_dir = out / "jobs"
            jobs_dir.mkdir(exist_ok=True)
            path = jobs_dir / f"barrier_sweep_run_{run}_of_{len(SWEEP_HEIGHTS_KHZ)}.json"
            client.write_job_to_file(job, file_path=str(path))
            written.append(path)
        if profiles:
            written.append(_plot_sweep(profiles, out / "result_barrier_sweep.png"))
        for job, stem in ((bec, "ultracold_matter"), (manip, "barrier_manipulator")):
            path = out / "jobs" / f"{stem}.json"
            path.parent.mkdir(exist_ok=True)
            client.write_job_to_file(job, file_path=str(path))
            written.append(path)
        client.close()
        print("\n== 5. Stopping the server")
    return written


def main(argv: list[str] | None = None) -> int:
    """Run the demonstration; return the process exit code."""
    if threading.current_thread() is not threading.main_thread():
        return _main(argv)
    # a polite kill (CI timeout, `kill PID`) or Ctrl-C still stops the embedded server
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if saved[signal.SIGINT] is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        return _main(argv)
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


def _main(argv: list[str] | None) -> int:
    import matplotlib

    matplotlib.use("Agg")
    parser = argparse.ArgumentParser(prog="oqtant demo", description=__doc__.splitlines()[0])
    parser.add_argument("--output", default="demo_output", help="where to write everything")
    parser.add_argument("--workers", type=int, default=2, help="server worker processes")
    args = parser.parse_args(argv)
    out = Path(args.output).resolve()
    out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()

    matter = _design(out)
    try:
        import oqtant.cli  # noqa: F401
        import oqtant.server.app  # noqa: F401  (needs the "server" extra: fastapi, sqlalchemy)
    except ImportError as err:
        print(f"\nThe job service is not available in this installation ({err}); "
              "only the design part was run.")
        return 0
    from oqtant.errors import OqtantError

    try:
        written = _run_service(out, matter, args.workers)
    except (RuntimeError, OqtantError) as err:
        # the server has been stopped by now; say what went wrong and where to look
        print(f"\nThe service part of the demo failed: {err}\n"
              f"Server log: {out / 'server.log'}", file=sys.stderr)
        return 1
    print(f"\nDone in {time.monotonic() - started:.0f} s. Everything is in {out}:")
    for path in sorted({*out.glob("*.png"), *written}):
        print(f"   {path.relative_to(out) if path.is_relative_to(out) else path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Quickstart: make ultracold matter, push it with a barrier, sweep a parameter.

Run it against an oqtant server: set OQTANT_URL (default http://127.0.0.1:8000)
and log in once with ``oqtant login``; the token is cached for later runs.
Plots are saved next to the script's working directory.
"""

from oqtant.schemas.quantum_matter import QuantumMatterFactory

# ---- log in and connect
qmf = QuantumMatterFactory()
qmf.get_login()
qmf.get_client()

# ---- 1. ultracold matter: a BEC at 50 nK, imaged after time of flight
matter = qmf.create_quantum_matter(name="quickstart: BEC", temperature=50)
matter.show_rf_dynamics()
matter.submit(track=True)
matter.get_result()
print("temperature (nK):", matter.output.temperature)
print("condensed atoms:", matter.output.condensed_population)
print("thermal atoms:", matter.output.thermal_population)
print("condensed fraction:", matter.output.condensed_fraction)
matter.output.plot_tof(file_name="quickstart_tof.png")
matter.output.plot_slice(file_name="quickstart_slice.png", axis="x")
matter.write_to_file(file_name="quickstart_bec")

# ---- 2. a barrier that appears at -10 um, grows, and moves through the cloud
barrier = qmf.create_barrier(
    positions=[-10, -10, 10],
    heights=[0, 20, 20],
    widths=[2, 2, 2],
    times=[0, 5, 15],
    shape="GAUSSIAN",
    interpolation="LINEAR",
)
barrier.show_dynamics()
pushed = qmf.create_quantum_matter(
    name="quickstart: moving barrier",
    temperature=50,
    lifetime=20,
    image="IN_TRAP",
    barriers=[barrier],
)
pushed.show_potential(times=[0, 5, 10, 15])
pushed.submit(track=True)
pushed.get_result()
pushed.output.plot_it(file_name="quickstart_in_trap.png")

# ---- 3. a sweep of the temperature as one batch job (one run per matter)
temperatures = [50, 100, 200]
sweep = [
    qmf.create_quantum_matter(name=f"quickstart: {t} nK", temperature=t) for t in temperatures
]
batch = qmf.submit_list_as_batch(
    matter_list=sweep, name="quickstart: temperature sweep", track=True
)
for run, temperature in enumerate(temperatures, start=1):
    batch.get_result(run=run)
    print(f"run {run}: asked {temperature} nK, measured {batch.output.temperature} nK")

# ---- 4. what is in the queue and what is left for today
qmf.search_jobs(name="quickstart", show_results=True)
qmf.show_queue_status(include_complete=True)
qmf.show_job_limits()
reloaded = qmf.load_matter_from_job_id(matter.job_id)
print("reloaded:", reloaded.name, reloaded.status)

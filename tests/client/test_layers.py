"""The user objects reach the service only through the client layer registered with them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from oqtant.matter import QuantumMatterFactory, _services
from oqtant.schemas.job import OqtantJob
from oqtant.standard_jobs import ultracold_matter_job

ROOT = Path(__file__).resolve().parents[2]


def test_the_user_objects_load_without_the_client():
    code = (
        "import sys, oqtant.matter; "
        "print(sorted(m for m in ('oqtant.client', 'httpx', 'oqtant.server') if m in sys.modules))"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env=env, timeout=120)  # fmt: skip
    assert out.stdout.strip() == "[]"


class _FakeLayer:
    """A client layer of a test: records what the user objects ask of it."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []
        self.written: dict[str, OqtantJob] = {}

    def current_client(self):
        self.calls.append(("current_client",))
        return None

    def connect(self, token):
        self.calls.append(("connect", token))
        return "a client"

    def login(self, port, **options):
        self.calls.append(("login", port))
        return type("Login", (), {"access_token": "t0k3n"})()

    def read_job_file(self, path):
        return self.written[str(path)]

    def write_job_file(self, job, path):
        self.written[str(path)] = job

    def default_job_file_name(self, job):
        return "default.txt"


@pytest.fixture
def layer(monkeypatch):
    fake = _FakeLayer()
    monkeypatch.setattr(_services, "_registered", [fake])
    return fake


def test_the_factory_logs_in_and_connects_through_the_registered_layer(layer):
    qmf = QuantumMatterFactory()
    qmf.get_login(port=8123)
    qmf.get_client()
    assert layer.calls == [("login", 8123), ("connect", "t0k3n")]
    assert qmf.client == "a client"


def test_job_files_of_a_matter_without_a_client_go_through_the_layer(layer):
    qmf = QuantumMatterFactory()
    matter = qmf.create_quantum_matter(name="offline")
    matter.result = OqtantJob(**ultracold_matter_job)
    matter.write_to_file()
    assert list(layer.written) == ["default.txt"]
    again = qmf.load_matter_from_file("default.txt")
    assert again.name == ultracold_matter_job["name"]


def test_the_client_registers_itself_on_import():
    import oqtant.client

    assert _services.client_layer() is oqtant.client._session.LAYER

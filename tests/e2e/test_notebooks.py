"""Notebooks, as they are, executed by a Jupyter kernel against a real ``oqtant serve``.

``notebooks/readme_flow.ipynb`` holds the README's Python blocks verbatim and then
submits the matter to the service; ``notebooks/reference_style.ipynb`` is written
as notebooks for the reference client are (``qmf.get_login()``, ``qmf.get_client()``,
the factory, submit, results, plots, job files). The kernel logs in without a
browser through the token cache (``OQTANT_TOKEN_CACHE_FILE``, ``OQTANT_URL``), and
draws plots with Jupyter's inline backend. No cell is changed; the executed and
saved notebook must not carry the access token.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from oqtant.login import TokenCache

from .test_client_e2e import REPO, env, login, new_user, server  # noqa: F401 - fixtures

pytestmark = [pytest.mark.server, pytest.mark.slow]

NOTEBOOKS = Path(__file__).resolve().parent / "notebooks"


def _readme_python_blocks() -> list[str]:
    text = (REPO / "README.md").read_text()
    return [block.strip() for block in re.findall(r"```python\n(.*?)```", text, re.S)]


@pytest.fixture
def kernel_env(server, env, monkeypatch):  # noqa: F811 - the fixtures imported above
    """A logged-in user's environment for the kernel: token cached, our package first."""
    token = login(server, new_user(server))
    TokenCache(env / "token.json").put(server.url, token, expires_in_s=3600)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    monkeypatch.delenv("MPLBACKEND", raising=False)  # the kernel's own: Jupyter's inline plots
    return token


def _execute(name: str, folder: Path) -> tuple[nbformat.NotebookNode, nbformat.NotebookNode]:
    """The notebook as stored, and as executed in ``folder`` (then saved there and read back)."""
    original = nbformat.read(NOTEBOOKS / name, as_version=4)
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    client = NotebookClient(
        notebook, timeout=300, kernel_name="python3", allow_errors=False,
        resources={"metadata": {"path": str(folder)}},
    )
    client.execute()
    saved = folder / name
    nbformat.write(notebook, saved)
    return original, nbformat.read(saved, as_version=4)


def _outputs(cell) -> list[str]:
    """Every text a cell showed (streams, results, errors), and the MIME types it showed."""
    shown = []
    for out in cell.get("outputs", []):
        if out.output_type == "stream":
            shown.append(out.text)
        elif out.output_type in ("execute_result", "display_data"):
            shown.extend(f"{mime}\n{value}" for mime, value in out.data.items())
        elif out.output_type == "error":
            shown.append("\n".join(out.traceback))
    return shown


def _check_common(original, executed, token: str, saved_text: str) -> list:
    code = [c for c in executed.cells if c.cell_type == "code"]
    assert [c.source for c in executed.cells] == [c.source for c in original.cells]
    assert all(c.execution_count for c in code)
    for secret in (token, token.split(".")[1], token.split(".")[2]):
        assert secret not in saved_text  # the saved notebook never carries the token
    everything = "\n".join(text for cell in code for text in _outputs(cell))
    assert "IProgress not found" not in everything and "TqdmWarning" not in everything
    assert "non-interactive" not in everything
    return code


def _pictures(cell) -> int:
    """How many figures a cell showed."""
    return sum(
        out.output_type == "display_data" and "image/png" in out.data
        for out in cell.get("outputs", [])
    )


def _shows_a_picture(cell) -> bool:
    return _pictures(cell) == 1


def test_readme_notebook_runs_unchanged(kernel_env, env):  # noqa: F811
    blocks = _readme_python_blocks()
    original, executed = _execute("readme_flow.ipynb", env)
    sources = [c.source.strip() for c in original.cells if c.cell_type == "code"]
    assert sources[: len(blocks)] == blocks  # the README's blocks, as the README has them
    saved = (env / "readme_flow.ipynb").read_text()
    code = _check_common(original, executed, kernel_env, saved)
    assert (env / "potential.png").stat().st_size > 1000
    assert (env / "in_trap.png").stat().st_size > 1000
    status = "".join(_outputs(code[3]))
    assert "COMPLETE True" in status
    assert _shows_a_picture(code[4])  # matter.output.plot_it()
    assert "True True" in "".join(_outputs(code[5]))  # client.submit, then bec.get_result()
    assert _shows_a_picture(code[6])


def test_reference_style_notebook_runs_unchanged(kernel_env, env):  # noqa: F811
    original, executed = _execute("reference_style.ipynb", env)
    saved = (env / "reference_style.ipynb").read_text()
    code = _check_common(original, executed, kernel_env, saved)
    shown_login = "".join(_outputs(code[1]))
    assert "token hidden" in shown_login  # qmf.get_login() shows the login, not the token
    assert "Daily Limit" not in "".join(_outputs(code[2]))  # qmf.get_client() prints nothing
    assert "COMPLETE Decimal Decimal" in "".join(_outputs(code[4]))
    assert _shows_a_picture(code[5]) and _shows_a_picture(code[6])  # plot_tof, plot_slice
    assert (env / "reference_style_bec.txt").exists()
    assert "reference style BEC True True" in "".join(_outputs(code[8]))
    assert _pictures(code[9]) == 2  # show_potential and show_barrier_dynamics
    assert _pictures(code[10]) == 1  # plot_it of the barrier's run
    sweep = "".join(_outputs(code[11]))
    for run in (1, 2):  # each matter of the batch fetched its own run
        assert re.search(rf"^{run} COMPLETE \d+$", sweep, re.M)
    # the plots were shown (inline backend), not handed back as a cell's value as well
    assert not any(out.output_type == "execute_result" and "<Figure" in str(out.data)
                   for cell in code for out in cell.outputs)

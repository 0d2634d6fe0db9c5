"""`oqtant demo` and `oqtant login` receive their own options unchanged."""

import subprocess
import sys


def _help(command: str) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "oqtant.cli", command, "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_demo_options_reach_the_demo():
    assert "--output" in _help("demo")


def test_login_options_reach_the_login():
    text = _help("login")
    assert "--username" in text and "--password-stdin" in text


def test_unknown_command_is_refused():
    out = subprocess.run(
        [sys.executable, "-m", "oqtant.cli", "no-such-command"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode != 0
    assert "invalid choice" in out.stderr

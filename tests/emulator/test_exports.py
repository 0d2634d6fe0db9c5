"""The public names of oqtant.emulator."""

from __future__ import annotations

import oqtant.emulator as emulator


def test_every_public_name_is_importable_and_documented():
    assert "Apparatus" in emulator.__all__
    for name in emulator.__all__:
        obj = getattr(emulator, name)
        assert obj.__doc__, f"{name} has no docstring"


def test_apparatus_needs_no_arguments():
    apparatus = emulator.Apparatus()
    assert apparatus.settings == emulator.ApparatusSettings()
    assert "Apparatus" in repr(apparatus)

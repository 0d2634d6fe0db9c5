"""The public surface of ``oqtant`` is exactly what ``__all__`` promises."""

import importlib
import subprocess
import sys

import oqtant

EXPECTED = {
    "__version__",
    "OqtantClient",
    "get_oqtant_client",
    "get_client",
    "QuantumMatter",
    "QuantumMatterFactory",
    "Barrier",
    "Snapshot",
    "Landscape",
    "Pulse",
    "Laser",
    "RfSequence",
    "RfEvap",
    "RfShield",
    "OqtantJob",
    "InputValues",
    "JobType",
    "JobStatus",
    "ImageType",
    "OqtantOutput",
    "fit_bimodal_2d",
    "read_job_file",
    "write_job_file",
    "Simulator",
    "Apparatus",
    "OqtantError",
}


def test_all_is_exactly_the_public_names():
    assert set(oqtant.__all__) == EXPECTED


def test_every_public_name_resolves_to_its_defining_object():
    for name in oqtant.__all__:
        value = getattr(oqtant, name)
        if name == "__version__":
            assert isinstance(value, str)
            continue
        module = importlib.import_module(oqtant._EXPORTS[name])
        assert value is getattr(module, name)


def test_unknown_name_is_an_attribute_error():
    try:
        oqtant.NoSuchThing  # noqa: B018
    except AttributeError as err:
        assert "NoSuchThing" in str(err)
    else:
        raise AssertionError("expected AttributeError")


def test_import_is_light():
    # `import oqtant` must not pull in the plotting or server stacks
    code = "import sys, oqtant; print(sorted(m for m in ('matplotlib', 'fastapi', 'scipy') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def _defines_public_names(module) -> bool:
    import types

    return any(
        not name.startswith("_") and not isinstance(value, types.ModuleType)
        for name, value in vars(module).items()
    )


def test_every_module_declares_all():
    import pkgutil

    missing = []
    for info in pkgutil.walk_packages(oqtant.__path__, prefix="oqtant."):
        if ".migrations" in info.name or info.name.endswith("__main__"):
            continue
        module = importlib.import_module(info.name)
        if info.ispkg and not _defines_public_names(module):
            continue  # a folder of modules, nothing of its own to export
        if not hasattr(module, "__all__"):
            missing.append(info.name)
    assert missing == []

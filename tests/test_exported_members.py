"""The public surface of ``oqtant`` is exactly what ``__all__`` promises."""

import importlib
import re
import subprocess
import sys
from pathlib import Path

import oqtant

ROOT = Path(__file__).resolve().parents[1]


def _documented_names() -> dict[str, str]:
    """name -> home of the table "The names of `import oqtant`" in docs/client.md."""
    text = (ROOT / "docs" / "client.md").read_text()
    section = text.split("## The names of `import oqtant`", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `([^`]+)` \| `([^`]+)` \|", section, re.M)
    return dict(rows)


def test_all_is_exactly_the_names_the_docs_promise():
    documented = _documented_names()
    assert len(documented) > 10
    assert sorted(oqtant.__all__) == sorted(documented)
    for name, home in documented.items():
        if name != "__version__":
            assert oqtant._EXPORTS[name] == home, name


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
    code = (
        "import sys, oqtant; "
        "print(sorted(m for m in ('matplotlib', 'fastapi', 'scipy') if m in sys.modules))"
    )
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

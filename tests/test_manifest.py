"""The npe2 manifest is valid and every command it names can be imported."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

npe2 = pytest.importorskip("npe2")

MANIFEST = Path(__file__).parents[1] / "src" / "napari_featann" / "napari.yaml"


def _manifest():
    return npe2.PluginManifest.from_file(MANIFEST)


def test_manifest_is_valid():
    pm = _manifest()  # validates the schema
    assert pm.name == "napari-featann"
    contrib = pm.contributions
    assert [w.display_name for w in contrib.widgets] == ["Feature Space Annotation"]
    assert not contrib.widgets[0].autogenerate
    assert [s.display_name for s in contrib.sample_data] == ["Everyday photos"]
    assert contrib.readers[0].filename_patterns == ["*.featann"]
    assert contrib.writers[0].filename_extensions == [".featann"]
    # every contribution refers to a declared command
    ids = {c.id for c in contrib.commands}
    used = [w.command for w in contrib.widgets] + [s.command for s in contrib.sample_data]
    used += [r.command for r in contrib.readers] + [w.command for w in contrib.writers]
    assert set(used) <= ids


@pytest.mark.parametrize("command", [c.python_name for c in _manifest().contributions.commands])
def test_python_name_resolves(command):
    module, _, attr = command.partition(":")
    obj = importlib.import_module(module)
    for part in attr.split("."):
        obj = getattr(obj, part)
    assert callable(obj)


def test_top_level_manifest_is_the_package_one():
    """``napari.yaml`` at the repository's top is a link to the packaged manifest, not a copy."""
    top = MANIFEST.parents[2] / "napari.yaml"
    assert top.is_symlink()
    assert top.resolve() == MANIFEST.resolve()
    assert npe2.PluginManifest.from_file(top).name == "napari-featann"


def test_installed_manifest_is_this_one():
    """The entry point napari finds is this package's manifest (pip install -e)."""
    pm = npe2.PluginManifest.from_distribution("napari-featann")
    assert pm.contributions.widgets[0].command == _manifest().contributions.widgets[0].command


def test_reader_writer_and_sample_data_import_no_qt():
    code = (
        "import sys\n"
        "import napari_featann._plugin_io, napari_featann.sample_data\n"
        "print(sorted({n.split('.')[0] for n in sys.modules} & "
        "{'qtpy', 'PyQt5', 'PyQt6', 'PySide2', 'PySide6', 'vispy'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"

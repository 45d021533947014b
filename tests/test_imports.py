"""The core is headless: it imports no Qt, napari or vispy, and no torch until needed."""

import subprocess
import sys

import pytest

GUI = ("qtpy", "PyQt5", "PyQt6", "PySide2", "PySide6", "napari", "vispy", "magicgui")

CORE_MODULES = [
    "napari_featann",
    "napari_featann.core.progress",
    "napari_featann.core.images",
    "napari_featann.core.gradient",
    "napari_featann.core.partition",
    "napari_featann.core.regions",
    "napari_featann.core.selection",
    "napari_featann.core.history",
    "napari_featann.core.correction",
    "napari_featann.session",
    "napari_featann.io",
    "napari_featann.cli",
    "napari_featann.bench.oracle",
    "napari_featann.bench.split_bound",
]
ML_MODULES = [
    "napari_featann.ml.hed",
    "napari_featann.ml.extractor",
    "napari_featann.ml.projection",
    "napari_featann.ml.metric",
    "napari_featann.ml.suggest",
]


def _loaded_after(modules) -> set[str]:
    code = (
        "import sys\n"
        + "".join(f"import {m}\n" for m in modules)
        + "print('\\n'.join(sorted({n.split('.')[0] for n in sys.modules})))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def test_core_imports_no_qt_and_no_torch():
    loaded = _loaded_after(CORE_MODULES)
    assert not loaded & set(GUI), loaded & set(GUI)
    assert "torch" not in loaded and "umap" not in loaded and "timm" not in loaded


@pytest.mark.parametrize("module", ML_MODULES)
def test_ml_modules_import_no_qt(module):
    loaded = _loaded_after([module])
    assert not loaded & set(GUI), loaded & set(GUI)

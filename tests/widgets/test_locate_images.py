"""Opening, from the dock or napari's reader, a session file whose images were moved
without it: the user is asked for their folder; declining keeps the session shown."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from dock_helpers import JOB_TIMEOUT

pytestmark = pytest.mark.gui


@pytest.fixture
def moved(tmp_path, photos):
    """A labelled session over image files saved in ``sess/``; the images then moved on
    their own from ``imgs/`` to ``moved/``. Returns (session, session file, new folder)."""
    import imageio.v3 as iio

    from napari_featann.io import save_session
    from napari_featann.session import Session

    (tmp_path / "imgs").mkdir()
    (tmp_path / "sess").mkdir()
    files = [tmp_path / "imgs" / f"p{k}.png" for k in range(len(photos))]
    for f, img in zip(files, photos):
        iio.imwrite(f, img)
    s = Session.from_sources([str(f) for f in files])
    s.partition_params.regions = 6
    s.partition()
    s.assign(s.segments.ids[:5], s.add_class("sky"))
    out = save_session(s, tmp_path / "sess" / "m.featann")
    shutil.move(tmp_path / "imgs", tmp_path / "moved")
    return s, out, tmp_path / "moved"


@pytest.fixture
def shown(dock, squares_image):
    """The session the dock shows before the moved one is opened."""
    from napari_featann.session import Session

    s = Session.from_sources([squares_image], names=["squares"])
    s.partition_params.regions = 3
    s.partition()
    dock.set_session(s)
    return s


def _same(loaded, saved, folder) -> None:
    assert [r.path for r in loaded.images] == [str(folder / f"p{k}.png") for k in range(3)]
    for a, b in zip(loaded.class_masks, saved.class_masks):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(loaded.segment_class, saved.segment_class)
    assert [c.name for c in loaded.classes.values()] == ["sky"]


def test_the_dock_asks_for_the_folder_of_moved_images(dock, moved, shown, monkeypatch, tmp_path):
    saved, out, folder = moved
    asked = []
    answers = iter([str(tmp_path / "sess"), str(folder)])  # a wrong folder first

    def ask(path, exc):
        asked.append((str(path), sorted(exc.missing), list(exc.image_dirs)))
        return next(answers)

    monkeypatch.setattr(dock, "ask_image_folder", ask)
    loaded = dock.load_session(out)
    assert loaded is not None and dock.session is loaded, dock.last_error
    _same(loaded, saved, folder)
    assert dock.session_path == out and not dock.dirty
    paths = sorted(r.path for r in saved.images)
    assert asked == [(str(out), paths, []), (str(out), paths, [str(tmp_path / "sess")])]
    assert dock.layers_for(0)[1].data is loaded.class_masks[0]


def test_declining_keeps_the_session_shown(dock, moved, shown, monkeypatch):
    _, out, _ = moved
    asked = []
    monkeypatch.setattr(dock, "ask_image_folder", lambda path, exc: asked.append(path))
    assert dock.load_session(out) is None
    assert len(asked) == 1 and dock.session is shown and dock.session_path is None
    assert "m.featann not opened, the session shown is kept" in dock.last_error
    assert "p0.png, p1.png, p2.png" in dock.last_error


def test_the_open_button_asks_once_the_read_has_failed(dock, qtbot, moved, shown, monkeypatch):
    saved, out, folder = moved
    monkeypatch.setattr(dock, "ask_image_folder", lambda path, exc: str(folder))
    with qtbot.waitSignal(dock.job_finished, timeout=JOB_TIMEOUT) as first:
        assert dock.load_session(out, wait=False) is None
    assert first.args == ["open session", "error"] and dock.session is shown
    qtbot.waitUntil(lambda: dock.session is not shown, timeout=JOB_TIMEOUT)
    _same(dock.session, saved, folder)
    assert not dock.busy and dock.session_path == out


def test_the_dialogs(dock, moved, shown, monkeypatch):
    from napari_featann._widgets import files

    saved, out, folder = moved
    told = []

    def question(parent, title, text, *args):
        told.append(text)
        return answer

    monkeypatch.setattr(files.QMessageBox, "question", question)
    monkeypatch.setattr(files.QFileDialog, "getExistingDirectory", lambda *a: str(folder))
    answer = files.QMessageBox.StandardButton.Cancel
    assert dock.load_session(out) is None and dock.session is shown
    assert "3 image files of m.featann were not found" in told[0] and "p1.png" in told[0]
    answer = files.QMessageBox.StandardButton.Open
    _same(dock.load_session(out), saved, folder)


def test_napari_s_reader_asks_too(make_napari_viewer, moved, monkeypatch):
    from napari_featann import _plugin_io
    from napari_featann.io import ImagesNotFoundError

    saved, out, folder = moved
    monkeypatch.setattr(_plugin_io, "_ask_image_folder", lambda path, exc: None)
    with pytest.raises(ImagesNotFoundError, match=r"p0\.png"):
        _plugin_io.read_session(str(out))
    monkeypatch.setattr(_plugin_io, "_ask_image_folder", lambda path, exc: str(folder))
    viewer = make_napari_viewer()
    viewer.open(str(out), plugin="napari-featann")
    session = viewer.layers[0].metadata["featann_session"]
    _same(session, saved, folder)


def test_the_reader_asks_nothing_off_the_main_thread(moved):
    import threading

    from napari_featann._plugin_io import _ask_image_folder

    got = []
    worker = threading.Thread(target=lambda: got.append(_ask_image_folder("x", None)))
    worker.start()
    worker.join()
    assert got == [None]


def test_saving_into_a_folder_that_does_not_exist(dock, shown, tmp_path):
    out = dock.save_session(tmp_path / "newdir" / "m.featann")
    assert out == tmp_path / "newdir" / "m.featann" and out.is_file(), dock.last_error
    assert sorted(p.name for p in out.parent.iterdir()) == ["m.featann"]

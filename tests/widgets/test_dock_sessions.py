"""The dock's sessions: what Start runs on, and what loading shows and reports.

Beside test_dock.py (which holds the whole annotation), for the cases where
the session shown and the Images list could disagree.
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.gui

JOB_TIMEOUT = 240_000  # ms; the first job may pay torch's import on a loaded machine


def _open(dock, session_file):
    assert dock.load_session(session_file) is not None, dock.last_error
    return dock.session


def _start(dock, qtbot, status="done"):
    with qtbot.waitSignal(dock.job_finished, timeout=JOB_TIMEOUT) as blocker:
        dock.start()
    assert blocker.args == ["pipeline", status], dock.last_error


def test_start_runs_on_a_session_or_folder_opened_after_a_pick(dock, qtbot, photos, tmp_path,
                                                               session_file):  # fmt: skip
    import imageio.v3 as iio

    dock.viewer.add_image(photos[0], name="mine")
    dock.layer_list.item(0).setSelected(True)  # picked earlier, then a session is opened
    s = _open(dock, session_file)
    mark = dock.add_class("mark")
    dock.assign(s.segments.ids[:5], mark)
    _start(dock, qtbot)
    assert [r.name for r in dock.session.images] == [r.name for r in s.images]
    assert mark in dock.session.classes
    # the same after Open folder…
    folder = tmp_path / "folder"
    folder.mkdir()
    iio.imwrite(folder / "p1.png", photos[1])
    dock.layer_list.item(0).setSelected(True)
    dock.load_images(folder)
    _start(dock, qtbot)
    assert [r.name for r in dock.session.images] == ["p1"]
    assert not dock.layer_list.selectedItems()  # the list no longer claims the old pick

"""Where the dock autosaves: one file per set of images, found again by the same images."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.gui


@pytest.fixture
def folder(tmp_path, photos):
    import imageio.v3 as iio

    out = tmp_path / "images"
    out.mkdir()
    for name, img in zip("abc", photos):
        iio.imwrite(out / f"{name}.png", img)
    return out


def test_sessions_over_other_images_autosave_to_other_files(folder, photos, tmp_path,
                                                            monkeypatch):  # fmt: skip
    from napari_featann._widgets.files import default_autosave_path
    from napari_featann.io import load_session, save_session
    from napari_featann.session import Session

    def path_of(*names, **kw):
        return default_autosave_path(Session.from_sources([str(folder / n) for n in names], **kw))

    ab, bc = path_of("a.png", "b.png"), path_of("b.png", "c.png")
    assert ab.parent == bc.parent == folder and ab != bc  # two subsets of one folder
    assert path_of("b.png", "a.png") == ab  # the same images, in any order: the same file
    assert path_of("a.png", "b.png", bands=[0]) != ab  # other bands: other images
    assert path_of("a.png", "b.png", tile=64) != ab  # cut into tiles: other images
    assert path_of("a.png", "b.png", tile=64) == path_of("a.png", "b.png", tile=64)

    # images given as arrays (napari layers) autosave in FEATANN_HOME, one file per set too
    monkeypatch.setenv("FEATANN_HOME", str(tmp_path / "home"))
    one = Session.from_sources(photos[:2], names=["x", "y"])
    other = Session.from_sources(photos[1:], names=["x", "y"])
    assert default_autosave_path(one).parent == tmp_path / "home"
    assert default_autosave_path(one) != default_autosave_path(other)
    again = Session.from_sources([p.copy() for p in photos[:2]], names=["x", "y"])
    assert default_autosave_path(again) == default_autosave_path(one)
    # a session saved and opened again (its autosave among them) keeps its autosave file
    for s in (one, Session.from_sources([str(folder / "a.png")], tile=64)):
        reopened = load_session(save_session(s, tmp_path / "s.featann"))
        assert default_autosave_path(reopened) == default_autosave_path(s)


def test_the_same_images_find_their_autosave(dock, folder, monkeypatch):
    from napari_featann.io import load_session

    told = []
    monkeypatch.setattr(dock, "_info", told.append)

    dock.load_images([str(folder / "a.png"), str(folder / "b.png")])
    assert dock.found_autosave() is None
    ab = dock.autosave()
    assert ab == dock.autosave_path() and ab.is_file()
    # another subset of the folder (a second window, say) autosaves beside it, not over it
    dock.load_images([str(folder / "b.png"), str(folder / "c.png")])
    assert dock.found_autosave() is None
    bc = dock.autosave()
    assert bc.is_file() and bc != ab and load_session(ab).n_images == 2
    assert {r.name for r in load_session(ab).images} == {"a", "b"}

    # reading a and b again finds their autosave and says so; opening it restores it
    dock.load_images([str(folder / "b.png"), str(folder / "a.png")])
    assert dock.found_autosave() == ab
    assert told and str(ab) in told[-1] and "Open session" in told[-1]
    restored = dock.load_session(ab)
    assert {r.name for r in restored.images} == {"a", "b"}
    assert dock.autosave_path() == ab  # and it goes on autosaving to that file


def test_an_autosave_named_as_before_is_mentioned(dock, folder, photos, tmp_path, monkeypatch):
    from napari_featann.io import load_session, save_session
    from napari_featann.session import Session

    told = []
    monkeypatch.setattr(dock, "_info", told.append)
    dock.load_images([str(folder / "a.png"), str(folder / "b.png")])
    assert told == []  # no autosave of any name yet: nothing said

    # an upgrade leaves featann-autosave.featann next to the images: loading them says so
    old = save_session(
        Session.from_sources([str(folder / "a.png")]), folder / "featann-autosave.featann"
    )
    dock.load_images([str(folder / "b.png"), str(folder / "c.png")])
    assert len(told) == 1 and str(old) in told[0] and "Open session" in told[0]
    assert "earlier version" in told[0]
    assert {r.name for r in dock.load_session(old).images} == {"a"}  # and it opens

    # images given as arrays used ~/.featann/autosave.featann ($FEATANN_HOME here)
    told.clear()
    dock.load_images(photos[:2], names=["x", "y"])
    assert told == []
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    save_session(Session.from_sources(photos[:1], names=["x"]), home / "autosave.featann")
    dock.load_images(photos[1:], names=["y", "z"])
    assert len(told) == 1 and str(home / "autosave.featann") in told[0]
    assert load_session(home / "autosave.featann").n_images == 1

"""The 3-D classes layer of a stack (no pipeline: hand-made class masks)."""

from __future__ import annotations

import numpy as np
import pytest

from napari_featann._widgets.volume import StackVolumes, stack_names, stack_planes
from napari_featann.session import Session

pytestmark = pytest.mark.gui


def _session():
    vol = np.arange(3 * 8 * 9, dtype=np.uint16).reshape(3, 8, 9)
    flat = np.zeros((8, 9), np.uint8)
    s = Session.from_sources([flat, vol], names=["flat", "vol"], axes=["YX", "ZYX"])
    return s, vol


def test_stack_names_and_planes():
    s, _vol = _session()
    assert stack_names(s) == ["vol"]
    assert stack_planes(s, "vol") == [1, 2, 3] and stack_planes(s, "flat") == []


def test_a_volume_follows_the_planes_and_sits_on_the_stack(make_napari_viewer):
    s, vol = _session()
    cid = s.add_class("cell")
    s.class_masks[2][2:5, 3:6] = cid
    viewer = make_napari_viewer()
    viewer.add_image(vol, name="vol", scale=(0.4, 1, 1), translate=(2.0, 0, 0))
    volumes = StackVolumes(viewer)
    layer = volumes.show(s, "vol")
    assert layer.data.shape == (3, 8, 9) and not layer.editable
    assert tuple(layer.scale) == (0.4, 1, 1) and tuple(layer.translate) == (2.0, 0, 0)
    assert layer.data[1, 3, 4] == cid and layer.data.sum() == cid * 9
    s.class_masks[3][0, 0] = cid  # a later change is copied in by update()
    s.class_masks[2][2:5, 3:6] = 0
    volumes.update(s)
    assert layer.data[2, 0, 0] == cid and layer.data[1].sum() == 0
    assert volumes.show(s, "vol") is layer  # shown again: the same layer
    with pytest.raises(ValueError, match="not a stack"):
        volumes.show(s, "flat")
    viewer.layers.remove(layer)  # removed by the user: forgotten, then made anew
    assert volumes.layer("vol") is None
    volumes.update(s)
    again = volumes.show(s, "vol")
    assert again is not layer and again in viewer.layers
    volumes.clear()
    assert again not in viewer.layers and volumes.layer("vol") is None


def test_the_dock_offers_the_3d_view_only_for_stacks(dock, session_file):
    assert dock.load_session(session_file) is not None, dock.last_error
    assert not dock.volume_button.isEnabled()
    dock._guard(dock.show_stack_volume)
    assert "no stack" in dock.last_error
    assert not any(layer.name.endswith("(3-D)") for layer in dock.viewer.layers)


def test_a_volume_is_rebuilt_when_its_stack_grows_and_ignores_a_misfit_layer(make_napari_viewer):
    s, vol = _session()
    viewer = make_napari_viewer()
    viewer.add_image(np.zeros((5, 8, 9)), name="vol", scale=(3, 2, 2))  # not this stack
    volumes = StackVolumes(viewer)
    layer = volumes.show(s, "vol")
    assert tuple(layer.scale) == (1, 1, 1)  # not aligned with a layer of another size
    more = Session.from_sources([vol[:1]], names=["x"], axes=["ZYX"])
    rec = more.images[0]
    rec.meta.update(stack="vol", plane=3, planes=4)  # a fourth plane of the same stack
    s.images.append(rec)
    s.class_masks.append(np.ones((8, 9), np.uint8))
    volumes.update(s)
    assert layer.data.shape == (4, 8, 9) and layer.data[3].all() and not layer.editable


def test_a_stack_s_planes_are_drawn_on_its_layer(dock):
    vol = np.arange(3 * 8 * 9, dtype=np.uint16).reshape(3, 8, 9)
    user = dock.viewer.add_image(vol, name="vol", scale=(2, 0.5, 0.25), translate=(1, 10, 20))
    dock.load_images([user])
    assert [r.name for r in dock.session.images] == ["vol_000", "vol_001", "vol_002"]
    for i in range(3):
        dock.current_image = i
        image, classes, _ = dock.layers_for(i)
        assert image is not user
        for layer in (image, classes):  # over the stack's layer, as its 3-D classes layer is
            assert tuple(layer.scale) == (0.5, 0.25) and tuple(layer.translate) == (10, 20)
    volume = dock.show_stack_volume()
    np.testing.assert_allclose(volume.extent.world[:, 1:], dock.layers_for(2)[1].extent.world)


def test_a_stack_session_opened_by_napari_s_reader_lies_on_its_stack(dock, qtbot, tmp_path):
    """File > Open (or a drop) of a stack's session places its layers as the dock does."""
    vol = np.arange(3 * 8 * 9, dtype=np.uint16).reshape(3, 8, 9)
    user = dock.viewer.add_image(vol, name="vol", scale=(2, 0.5, 0.25), translate=(1, 10, 20))
    s = dock.load_images([user])
    path = dock.save_session(tmp_path / "stack")
    dock.viewer.open(str(path), plugin="napari-featann")
    qtbot.waitUntil(lambda: dock.session is not s, timeout=5000)
    opened = dock.session
    for i in range(3):
        image, classes, _ = dock.layers_for(i)
        assert image.metadata["featann_session"] is opened  # the reader's layers
        for layer in (image, classes):
            assert tuple(layer.scale) == (0.5, 0.25) and tuple(layer.translate) == (10, 20)
        assert list(image.contrast_limits) == pytest.approx(opened.images[i].meta["range"])
    volume = dock.show_stack_volume()
    np.testing.assert_allclose(volume.extent.world[:, 1:], dock.layers_for(2)[1].extent.world)

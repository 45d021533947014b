import numpy as np
import pytest

from napari_featann.core.progress import CancelAfter, Cancelled
from napari_featann.io import SessionFileError, export_masks, load_session, save_session
from napari_featann.session import Session


@pytest.fixture
def session(squares_image):
    s = Session.from_sources([squares_image, squares_image[:40, :50].copy()], names=["a", "b"])
    s.partition_params.regions = 3
    s.partition()
    return s


def test_partition_gives_unique_ids_and_table(session):
    ids0 = np.unique(session.label_images[0])
    ids1 = np.unique(session.label_images[1])
    assert not set(ids0) & set(ids1)
    assert len(session.segments) == ids0.size + ids1.size
    assert session.segments.area.sum() == 48 * 64 + 40 * 50
    assert session.next_id == max(ids1) + 1


def test_assign_writes_pixels_and_undo_redo(session):
    red = session.add_class("red")
    seg = session.segment_at(0, 16, 16)
    changed = session.assign([seg], red)
    mask = session.label_images[0] == seg
    assert (session.class_masks[0][mask] == red).all()
    assert (session.class_masks[0][~mask] == 0).all()
    assert changed[0] == mask.sum()
    assert session.segment_class[session.segments.rows_of([seg])[0]] == red
    assert session.undo().startswith("label 1 segments")
    assert session.class_masks[0].max() == 0 and session.segment_class.max() == 0
    session.redo()
    assert (session.class_masks[0][mask] == red).all()


def test_assign_keeps_hand_painted_pixels(session):
    red, blue = session.add_class("red"), session.add_class("blue")
    seg = session.segment_at(0, 16, 16)
    painted = np.zeros_like(session.manual_masks[0])
    painted[16, 16] = True
    session.paint(0, painted, blue)
    session.assign([seg], red)
    assert session.class_masks[0][16, 16] == blue
    assert session.class_masks[0][15, 15] == red


def test_partition_is_atomic_when_cancelled(session):
    before = [lab.copy() for lab in session.label_images]
    session.partition_params.regions = 2
    session.gradients = [None, None]
    with pytest.raises(Cancelled):
        session.partition(CancelAfter(2))
    assert all((a == b).all() for a, b in zip(before, session.label_images))


def test_classes_and_remove_is_undoable(session):
    red = session.add_class("red")
    with pytest.raises(ValueError):
        session.add_class("red")
    session.rename_class(red, "tomato")
    session.recolor_class(red, "#ff6347")
    with pytest.raises(ValueError):
        session.recolor_class(red, "tomatoes")
    session.assign([session.segment_at(0, 16, 16)], red)
    session.remove_class(red)
    assert red not in session.classes and session.class_masks[0].max() == 0
    session.undo()
    assert session.classes[red].name == "tomato" and session.class_masks[0].max() == red


def test_pixels_painted_with_a_deleted_class_show_their_segment_s_class(session):
    """They become free, and a free pixel shows its segment's class: a hole of unlabelled
    pixels was left in the labelled segment (and in the exported mask)."""
    red, blue = session.add_class("red"), session.add_class("blue")
    seg = session.segment_at(0, 16, 16)
    session.assign([seg], red)
    painted = np.zeros_like(session.manual_masks[0])
    painted[14:18, 14:18] = True  # inside the red square
    painted[0:2, 0:2] = True  # on an unlabelled segment
    session.paint(0, painted, blue)
    session.remove_class(blue)
    assert (session.class_masks[0][14:18, 14:18] == red).all()
    assert (session.class_masks[0][0:2, 0:2] == 0).all() and not session.manual_masks[0].any()
    session.undo()
    assert (session.class_masks[0][painted] == blue).all()
    assert session.manual_masks[0][painted].all()
    session.redo()
    assert (session.class_masks[0][14:18, 14:18] == red).all()
    session.assign([seg], 0)  # the freed pixels follow their segment from now on
    assert session.class_masks[0].max() == 0


def test_an_undone_deletion_puts_the_class_back_at_its_place(session, tmp_path):
    """The list order gives the number keys (1 chooses the first class) and is saved."""
    a, b, c = session.add_class("a"), session.add_class("b"), session.add_class("c")
    session.rename_class(a, "apple")
    session.remove_class(a)
    session.remove_class(c)
    session.undo()
    assert list(session.classes) == [b, c]
    session.undo()
    assert list(session.classes) == [a, b, c]
    saved = load_session(save_session(session, tmp_path / "s"))
    assert [info.name for info in saved.classes.values()] == ["apple", "b", "c"]
    assert session.redo() == "delete class apple" and list(session.classes) == [b, c]
    session.undo()
    assert session.undo() == "rename class a to apple"  # in place
    assert [(k, info.name) for k, info in session.classes.items()] == [(a, "a"), (b, "b"), (c, "c")]
    for _ in range(3):
        session.undo()  # the additions
    assert not session.classes
    for _ in range(3):
        session.redo()
    assert list(session.classes) == [a, b, c]


@pytest.mark.parametrize(
    ("given", "stored"),
    [("red", "#ff0000"), ("#0f0", "#00ff00"), ("#00FF00", "#00ff00"), ("tomato", "#ff6347"),
     ((0, 0.5, 1.0), "#0080ff"), ((255, 128, 0), "#ff8000"), (None, "#e6194b")],
)  # fmt: skip
def test_class_colours_are_stored_as_rrggbb(session, given, stored):
    cid = session.add_class("a", given)
    assert session.classes[cid].color == stored
    other = session.add_class("b")
    session.recolor_class(other, given if given is not None else "#E6194B")
    assert session.classes[other].color == stored


@pytest.mark.parametrize("bad", ["reddish", "#12345", "#gg0000", (2.0, 0, 0), (1, 2), 7])
def test_a_bad_class_colour_is_refused_and_changes_nothing(session, bad):
    red = session.add_class("red", "red")
    with pytest.raises(ValueError, match="not a colour"):
        session.add_class("b", bad)
    with pytest.raises(ValueError, match="not a colour"):
        session.recolor_class(red, bad)
    assert list(session.classes) == [red] and session.classes[red].color == "#ff0000"
    assert len(session.history) == 1 and not session.history.can_redo
    assert session.undo() == "add class red" and not session.classes


def test_save_load_roundtrip(session, tmp_path):
    red = session.add_class("red")
    session.assign([session.segment_at(0, 16, 16)], red)
    session.embedding = np.random.default_rng(0).random((len(session.segments), 2)).astype("f4")
    path = save_session(session, tmp_path / "s")
    assert path.suffix == ".featann"
    loaded = load_session(path)
    assert loaded.classes == session.classes
    assert all((a == b).all() for a, b in zip(loaded.class_masks, session.class_masks))
    assert all((a == b).all() for a, b in zip(loaded.label_images, session.label_images))
    np.testing.assert_array_equal(loaded.embedding, session.embedding)
    assert loaded.partition_params == session.partition_params
    # gradients come back, so a re-cut does not recompute them
    assert loaded._gradient_keys == session._gradient_keys


def test_a_cancelled_save_leaves_the_old_file_as_it_was(session, tmp_path):
    from napari_featann.io import session_snapshot, write_snapshot

    path = save_session(session, tmp_path / "s")
    before = path.read_bytes()
    session.assign([session.segment_at(0, 16, 16)], session.add_class("red"))
    with pytest.raises(Cancelled):  # stops after the first arrays
        write_snapshot(session_snapshot(session), path, CancelAfter(2))
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.featann"]  # no temporary left
    assert load_session(path).classes == {}


def test_a_failed_save_leaves_no_temporary_file(session, tmp_path):
    (tmp_path / "s.featann").mkdir()  # a folder where the file should go: the rename fails
    with pytest.raises(OSError):
        save_session(session, tmp_path / "s")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.featann"]
    assert (tmp_path / "s.featann").is_dir()


def test_corrupted_and_foreign_files(tmp_path, session):
    (tmp_path / "junk.featann").write_bytes(b"not a zip at all")
    with pytest.raises(SessionFileError, match="not a napari-featann session"):
        load_session(tmp_path / "junk.featann")
    np.savez(tmp_path / "foreign.npz", x=np.zeros(3))
    with pytest.raises(SessionFileError, match="no metadata"):
        load_session(tmp_path / "foreign.npz")
    path = save_session(session, tmp_path / "ok")
    data = bytearray(path.read_bytes())
    (tmp_path / "cut.featann").write_bytes(bytes(data[: len(data) // 2]))
    with pytest.raises(SessionFileError):
        load_session(tmp_path / "cut.featann")
    with pytest.raises(SessionFileError, match="no such"):
        load_session(tmp_path / "absent.featann")


def test_saved_images_are_found_from_any_folder_and_after_the_project_moved(
    squares_image, tmp_path, monkeypatch
):
    import shutil

    import imageio.v3 as iio

    project = tmp_path / "project"
    (project / "photos").mkdir(parents=True)
    iio.imwrite(project / "photos" / "a.png", squares_image)
    monkeypatch.chdir(project)
    s = Session.from_sources("photos")  # a relative folder, as in the README
    s.partition_params.regions = 3
    s.partition()
    save_session(s, "work.featann")
    monkeypatch.chdir(tmp_path)  # another working directory
    assert load_session(project / "work.featann").n_images == 1
    moved = tmp_path / "elsewhere"
    shutil.move(project, moved)  # the whole project folder moves
    loaded = load_session(moved / "work.featann")
    assert loaded.images[0].path == str(moved / "photos" / "a.png")
    assert np.array_equal(loaded.label_images[0], s.label_images[0])
    (moved / "photos" / "a.png").unlink()
    with pytest.raises(SessionFileError, match="relative to the session file"):
        load_session(moved / "work.featann")


def test_a_recut_after_reopening_gives_the_segments_of_before(tmp_path):
    from napari_featann import editing
    from napari_featann.core.partition import PartitionParams

    img = np.random.default_rng(5).integers(0, 255, (64, 80, 3)).astype(np.uint8)
    s = Session.from_sources([img])
    s.partition_params.regions = 40
    s.partition()
    loaded = load_session(save_session(s, tmp_path / "g"))
    np.testing.assert_array_equal(loaded.gradients[0], s.gradients[0])  # exactly
    for regions in (10, 60, 200):
        p = PartitionParams(regions=regions)
        np.testing.assert_array_equal(
            editing.preview_recut(loaded, 0, p), editing.preview_recut(s, 0, p)
        )


def test_hed_gradients_saved_with_a_relative_weights_path_are_reused(tmp_path, monkeypatch):
    from pathlib import Path

    from napari_featann.core.partition import PartitionParams

    hed = Path(__file__).resolve().parents[1].parent / "shared" / "weights" / "hed_bsds500.pth"
    if not hed.exists():
        pytest.skip(f"{hed} is not available")
    monkeypatch.chdir(hed.parent)  # as after featann gui --edge-weights hed_bsds500.pth there
    img = np.random.default_rng(3).integers(0, 255, (48, 64, 3)).astype(np.uint8)
    s = Session.from_sources([img])
    s.partition_params = PartitionParams(gradient="hed", edge_weights=hed.name, regions=8)
    s.partition()
    loaded = load_session(save_session(s, tmp_path / "hed"))
    assert loaded._gradient_keys[0] == loaded.partition_params.gradient_key()
    saved = loaded.gradients[0]
    loaded.compute_gradients()  # a re-cut or Start after reopening: nothing to compute
    assert loaded.gradients[0] is saved


def test_masks_of_the_wrong_shape_are_refused(session, tmp_path):
    path = save_session(session, tmp_path / "ok")
    with np.load(path) as npz:
        arrays = dict(npz)
    arrays["class_mask_1"] = np.zeros((5, 5), np.uint8)
    with open(tmp_path / "bad.featann", "wb") as fh:
        np.savez(fh, **arrays)
    with pytest.raises(SessionFileError, match="do not have its shape"):
        load_session(tmp_path / "bad.featann")


def test_export_masks_with_legend(session, tmp_path):
    import json

    import imageio.v3 as iio

    red = session.add_class("red")
    session.assign([session.segment_at(0, 16, 16)], red)
    files = export_masks(session, tmp_path / "masks")
    assert [f.name for f in files] == ["a.png", "b.png"]
    mask = iio.imread(files[0])
    assert mask.shape == (48, 64) and mask[16, 16] == red
    legend = json.loads((tmp_path / "masks" / "legend.json").read_text())
    assert legend[1] == {"id": red, "name": "red", "color": session.classes[red].color}


def test_masks_are_never_exported_over_the_images(squares_image, tmp_path):
    """Export masks into the images' own folder: a.png's mask would be written over a.png."""
    import imageio.v3 as iio

    iio.imwrite(tmp_path / "a.png", squares_image)
    s = Session.from_sources(tmp_path)
    before = (tmp_path / "a.png").read_bytes()
    with pytest.raises(ValueError, match="one of the session's images"):
        export_masks(s, tmp_path)
    assert (tmp_path / "a.png").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png"]  # nothing written
    assert [f.name for f in export_masks(s, tmp_path, "tif")] == ["a.tif"]  # no clash: fine


def test_the_csv_legend_gives_back_the_class_names_as_typed(session, tmp_path):
    import csv

    names = ["tumour, grade 2", 'big "cell"', "café", "细胞"]
    ids = [session.add_class(n) for n in names]
    export_masks(session, tmp_path / "masks")
    with open(tmp_path / "masks" / "legend.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["id", "name", "color"] and rows[1] == ["0", "unlabelled", "#000000"]
    assert rows[2:] == [[str(i), n, session.classes[i].color] for i, n in zip(ids, names)]


def test_select_box_and_lasso(session):
    n = len(session.segments)
    session.embedding = np.stack([np.arange(n), np.zeros(n)], 1).astype("f4")
    assert session.select_box((-0.5, -1), (1.5, 1)).tolist() == session.segments.ids[:2].tolist()
    tri = [[-1, -1], [0.5, 3], [0.5, -3]]
    assert session.select_lasso(tri).tolist() == session.segments.ids[:1].tolist()


def test_a_stack_is_saved_by_reference_and_exported_as_a_volume(squares_image, tmp_path):
    import tifffile

    grey = squares_image[..., 0].astype(np.uint16) * 10
    vol = np.stack([grey, grey[:, ::-1], grey[::-1]])  # three planes of one 48x64 volume
    tifffile.imwrite(tmp_path / "vol.tif", vol, photometric="minisblack", metadata={"axes": "ZYX"})
    s = Session.from_sources(tmp_path / "vol.tif")
    s.partition_params.regions = 3
    s.partition()
    red = s.add_class("red")
    s.assign([s.segment_at(1, 16, 64 - 16), s.segment_at(2, 48 - 16, 16)], red)

    path = save_session(s, tmp_path / "vol")  # the planes are not embedded: read back by index
    back = load_session(path)
    assert [r.name for r in back.images] == ["vol_000", "vol_001", "vol_002"]
    assert [r.plane for r in back.images] == [0, 1, 2]
    for k in range(3):
        np.testing.assert_array_equal(back.images[k].data, vol[k])
        np.testing.assert_array_equal(back.class_masks[k], s.class_masks[k])
    assert back.images[0].meta["range"] == s.images[0].meta["range"]

    files = export_masks(back, tmp_path / "out", "png")
    assert files[-1].name == "vol-stack.tif" and len(files) == 4
    volume = tifffile.imread(files[-1])
    assert volume.shape == (3, 48, 64)
    np.testing.assert_array_equal(volume, np.stack(s.class_masks))
    assert volume[0].max() == 0 and volume[1, 16, 48] == red and volume[2, 32, 16] == red

    tifffile.imwrite(
        tmp_path / "vol.tif", vol[:2], photometric="minisblack", metadata={"axes": "ZYX"}
    )  # a plane lost
    with pytest.raises(SessionFileError, match="no plane 2"):
        load_session(path)


def test_the_stack_volume_never_overwrites_an_image_mask(squares_image, tmp_path):
    import tifffile

    grey = squares_image[..., 0]
    vol = np.stack([grey] * 5)
    s = Session.from_sources([vol, grey], names=["cells", "cells-stack"])
    s.partition_params.regions = 3
    s.partition()
    cid = s.add_class("x")
    s.assign([s.segment_at(5, 16, 16)], cid)  # only the 2-D image gets a label
    files = export_masks(s, tmp_path / "out", "tif")
    names = [f.name for f in files]
    assert len(set(names)) == len(names) and names[-1] == "cells-stack-2.tif"
    assert tifffile.imread(tmp_path / "out" / "cells-stack.tif").max() == cid
    assert tifffile.imread(files[-1]).shape == (5, 48, 64)


def test_masks_of_images_named_with_a_slash_stay_in_the_export_folder(squares_image, tmp_path):
    """napari layer names may hold "/": they name files, not folders (nor a way out)."""
    import imageio.v3 as iio
    import tifffile

    grey = squares_image[..., 0]
    s = Session.from_sources([grey, grey[::-1].copy(), np.stack([grey] * 5)],
                             names=["cells/DAPI", "cells_DAPI", "../up"])  # fmt: skip
    s.partition_params.regions = 3
    s.partition()
    cid = s.add_class("x")
    s.assign([s.segment_at(0, 16, 16)], cid)
    out = tmp_path / "deep" / "out"
    files = export_masks(s, out)
    planes = [f".._up_00{k}.png" for k in range(5)]
    assert [f.name for f in files] == ["cells_DAPI.png", "cells_DAPI-2.png", *planes,
                                       ".._up-stack.tif"]  # fmt: skip
    assert all(f.parent == out for f in files)
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file() and p.parent != out) == []
    np.testing.assert_array_equal(iio.imread(files[0]), s.class_masks[0])
    assert tifffile.imread(files[-1]).shape == (5, 48, 64)


def test_the_bands_of_a_multi_band_file_are_kept_in_the_session_file(tmp_path):
    import tifffile

    rng = np.random.default_rng(0)
    ms = (rng.random((40, 50, 6)) * 4000).astype(np.uint16)
    tifffile.imwrite(tmp_path / "ms.tif", ms, photometric="minisblack", planarconfig="contig")
    s = Session.from_sources(tmp_path / "ms.tif", bands=[3, 2, 1])
    s.partition_params.regions = 4
    s.partition()
    back = load_session(save_session(s, tmp_path / "ms"))  # by reference: bands re-applied
    np.testing.assert_array_equal(back.images[0].data, ms[..., [3, 2, 1]])
    np.testing.assert_array_equal(back.label_images[0], s.label_images[0])


def test_one_file_added_twice_with_other_bands_opens_again(tmp_path):
    """A scene shown in two band choices (true and false colour) is read once per choice."""
    import tifffile

    from napari_featann.batches import add_images

    ms = (np.random.default_rng(1).random((40, 50, 5)) * 4000).astype(np.uint16)
    tifffile.imwrite(tmp_path / "ms.tif", ms, photometric="minisblack", planarconfig="contig")
    s = Session.from_sources(tmp_path / "ms.tif", bands=[0])
    s.partition_params.regions = 4
    s.partition()
    add_images(s, tmp_path / "ms.tif", bands=[4, 2, 1])
    back = load_session(save_session(s, tmp_path / "two"))
    np.testing.assert_array_equal(back.images[0].data, ms[..., 0])
    np.testing.assert_array_equal(back.images[1].data, ms[..., [4, 2, 1]])
    assert [r.meta["bands"] for r in back.images] == [[0], [4, 2, 1]]


def test_a_large_image_is_cut_into_tiles_saved_by_reference_and_exported_as_a_mosaic(tmp_path):
    import tifffile

    from napari_featann.batches import add_images

    rng = np.random.default_rng(0)
    scene = (rng.random((300, 200)) * 4000).astype(np.uint16)
    scene[40:100, 30:90] += 20000  # a bright square in the first tile
    tifffile.imwrite(tmp_path / "scene.tif", scene)
    s = Session.from_sources(tmp_path / "scene.tif", tile=128)
    assert [r.name for r in s.images] == [f"scene_r{r}_c{c}" for r in (0, 128, 256)
                                          for c in (0, 128)]  # fmt: skip
    assert [r.shape2d for r in s.images] == [(128, 128), (128, 72)] * 2 + [(44, 128), (44, 72)]
    s.partition_params.regions = 4
    s.partition()
    bright = s.add_class("bright")
    s.assign([s.segment_at(0, 70, 60)], bright)
    path = save_session(s, tmp_path / "scene")  # by reference: each tile read back by its window
    back = load_session(path)
    assert [r.name for r in back.images] == [r.name for r in s.images]
    for a, b in zip(s.images, back.images):
        np.testing.assert_array_equal(a.data, b.data)
        assert b.meta["tile"] == a.meta["tile"] and b.meta["range"] == a.meta["range"]
    files = export_masks(back, tmp_path / "out", "png")
    assert files[-1].name == "scene-mosaic.tif" and len(files) == 7
    mosaic = tifffile.imread(files[-1])
    assert mosaic.shape == (300, 200) and mosaic[70, 60] == bright
    np.testing.assert_array_equal(mosaic[:128, :128], s.class_masks[0])
    assert (mosaic[128:] == 0).all()
    # images added later are cut like the session's own, and named apart from its scene
    (tmp_path / "more").mkdir()
    tifffile.imwrite(tmp_path / "more" / "scene.tif", scene[:200])
    add_images(s, tmp_path / "more")
    assert [r.name for r in s.images[6:]] == [f"scene-2_r{r}_c{c}" for r in (0, 128)
                                              for c in (0, 128)]  # fmt: skip
    assert s.images[-1].shape2d == (72, 72) and s.images[-1].meta["scene"] == "scene-2"
    with pytest.raises(ValueError, match="at least 64"):
        Session.from_sources(tmp_path / "scene.tif", tile=32)


def test_new_segments_of_a_fine_tuned_session_are_placed_by_their_nearest_twin(squares_image):
    # the layout of a fine-tuned backbone is fit on its features, of another length than the
    # session's own: new segments (a split) go next to their nearest neighbour, by distance
    s = Session.from_sources([squares_image], names=["a"])
    s.partition_params.regions = 40
    s.partition()
    n = len(s.segments)
    rng = np.random.default_rng(0)
    s.features = rng.normal(size=(n, 16)).astype(np.float32)
    s.features[1] = 3 * s.features[0]  # longer, same direction: the dot product would pick it
    refined = rng.normal(size=(n, 8)).astype(np.float32)
    s.project(features=refined)
    s.refined_features, s.metric_state = refined, ("full", None)
    placed = s.place(s.features[[0, 2, 5]])
    np.testing.assert_allclose(placed, s.embedding[[0, 2, 5]], atol=0.3)


def test_a_file_name_with_the_suffix_in_capitals_is_kept(session, tmp_path):
    written = save_session(session, tmp_path / "Run.FEATANN")
    assert written == tmp_path / "Run.FEATANN" and [p.name for p in tmp_path.iterdir()] == [
        "Run.FEATANN"
    ]
    assert load_session(written).n_images == session.n_images


def test_renaming_and_recolouring_are_undoable_and_names_stay_unique(session):
    x, y = session.add_class("x"), session.add_class("y")
    with pytest.raises(ValueError, match="exists already"):
        session.rename_class(y, "x")
    session.remove_class(x)
    session.rename_class(y, "x")  # the name is free now
    session.recolor_class(y, "#123456")
    session.undo()
    assert session.classes[y].color != "#123456"
    session.undo()  # the rename, then the deletion: never two classes named x
    assert session.classes[y].name == "y"
    session.undo()
    assert sorted(c.name for c in session.classes.values()) == ["x", "y"]
    session.redo()
    session.redo()
    assert session.classes[y].name == "x" and x not in session.classes


def test_a_save_s_progress_is_the_percent_of_the_bytes_written(session, tmp_path):
    """The bar counted each array as at least 1 MiB, so a fine-tuned backbone's 294 small
    tensors outweighed the label images; it now follows the bytes."""
    from napari_featann.core.progress import Progress
    from napari_featann.io import session_snapshot, write_snapshot

    arrays = session_snapshot(session)
    arrays.update({f"small__{i}": np.zeros(4, np.float32) for i in range(300)})
    arrays["big__"] = np.zeros(4 * 2**20, np.uint8)  # 4 MiB: most of the bytes
    stages, steps = [], []
    write_snapshot(arrays, tmp_path / "s", Progress(lambda t, d: stages.append(t), steps.append))
    assert stages == [100] and sum(steps) == 100 and all(n > 0 for n in steps)
    assert max(steps) >= 90  # the 4 MiB array, not the 300 arrays of 16 bytes

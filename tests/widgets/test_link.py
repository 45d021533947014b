"""The dock's segment thumbnails (:class:`~napari_featann._widgets.link.Thumbnails`)."""

from __future__ import annotations

import numpy as np

from napari_featann._widgets.link import Thumbnails
from napari_featann.session import Session


def _grey_session(k: int) -> Session:
    """One partitioned 16-bit grey image, different for every k."""
    rng = np.random.default_rng(k)
    image = (rng.random((32, 32)) * 1000 + 5000 * (k % 2)).astype(np.uint16)
    s = Session.from_sources([image[::-1].copy() if k % 2 else image], names=[f"grey {k}"])
    s.partition_params.regions = 2
    s.partition()
    return s


def _expected(s: Session, row: int, margin: int = 4) -> np.ndarray:
    """The thumbnail of a small segment: its crop, the context dimmed."""
    rgb = (s.images[0].float_rgb() * 255 + 0.5).astype(np.uint8)
    h, w = s.images[0].shape2d
    r0, c0, r1, c1 = (int(v) for v in s.segments.bbox[row])
    r0, c0, r1, c1 = (
        max(r0 - margin, 0),
        max(c0 - margin, 0),
        min(r1 + margin, h),
        min(c1 + margin, w),
    )
    inside = s.label_images[0][r0:r1, c0:c1, None] == s.segments.ids[row]
    crop = rgb[r0:r1, c0:c1]
    return np.where(inside, crop, crop // 3)


def test_thumbnails_show_the_current_sessions_image_after_another_session():
    """A session opened after another shows its own pixels, never the last one's.

    The converted image was cached under the ``id()`` of the image's data, which
    a freed array hands on to a new one: a grey or 16-bit image of the next
    session (same index) then got the previous session's pixels.
    """
    current = {}
    thumbnails = Thumbnails(lambda: current["s"], size=64)
    for k in range(40):  # another session each time, the previous one freed
        current.pop("s", None)
        current["s"] = s = _grey_session(k)
        got = thumbnails(0)
        np.testing.assert_array_equal(got[..., :3], _expected(s, 0), err_msg=f"session {k}")
        assert (got[..., 3] == 255).all()
        del s

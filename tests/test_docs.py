"""The README's Python example runs as written (on small images, with the local weights)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

README = Path(__file__).parents[1] / "README.md"
BACKBONE_WEIGHTS = (
    Path(__file__).parents[2] / "shared" / "weights" / "efficientnet_lite0_in1k_timm.pth"
)


def test_readme_python_example_runs(tmp_path, monkeypatch):
    import imageio.v3 as iio
    from skimage import data, transform

    if not BACKBONE_WEIGHTS.exists():
        pytest.skip(f"{BACKBONE_WEIGHTS} is not available")
    block = re.search(r"```python\n(.*?)```", README.read_text(), re.S).group(1)
    assert "path/to/images" in block and "path/to/efficientnet_lite0" in block
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("astronaut", "coffee"):  # bundled with scikit-image: offline
        img = transform.resize(getattr(data, name)(), (240, 320), anti_aliasing=True)
        iio.imwrite(photos / f"{name}.png", (img * 255).astype(np.uint8))
    code = block.replace("path/to/images", str(photos)).replace(
        "path/to/efficientnet_lite0_in1k_timm.pth", str(BACKBONE_WEIGHTS)
    )
    monkeypatch.chdir(tmp_path)  # the example saves and exports into the working directory
    scope: dict = {}
    exec(compile(code, str(README), "exec"), scope)
    s = scope["s"]
    assert s.metric_state is not None
    assert [c.name for c in s.classes.values()] == ["cat", "dog"]
    assert (s.segment_class == 1).any() and (s.segment_class == 2).any()
    assert (tmp_path / "project.featann").is_file()
    assert sorted(p.name for p in (tmp_path / "masks").glob("*.png")) == [
        "astronaut.png",
        "coffee.png",
    ]

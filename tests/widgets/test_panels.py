"""The parameter panels of the dock: what they show is what they give back."""

from __future__ import annotations

import dataclasses

import pytest

pytest.importorskip("qtpy")
pytest.importorskip("pytestqt")
pytest.importorskip("magicgui")

from napari_featann._widgets.panels import FeaturesPanel
from napari_featann.params import FeatureParams

pytestmark = pytest.mark.gui


@pytest.fixture
def panel(qtbot):
    p = FeaturesPanel()
    qtbot.addWidget(p.native)
    return p


def test_features_panel_shows_and_gives_back_the_context_settings(panel):
    base = FeatureParams(weights="w.pth", device="cpu")
    shown = (panel.context_levels.value, panel.context_scale.value, panel.context_weight.value)
    assert shown == (4, 1.5, "level")  # the defaults
    got = panel.params(base)
    assert (got.context, got.context_levels, got.context_scale, got.context_weight) == (
        True, 4, 1.5, "level")  # fmt: skip
    # a session of before the settings (two levels at scale 1, finest-map weight)
    # round-trips unchanged
    old = dataclasses.replace(base, context_levels=2, context_scale=1.0, context_weight="finest")
    panel.set_params(old)
    shown = (panel.context_levels.value, panel.context_scale.value, panel.context_weight.value)
    assert shown == (2, 1.0, "finest")
    assert panel.context_weight.current_choice == "finest map"
    assert panel.params(base) == old
    # what the user sets is what the session gets
    panel.context_levels.value = 4
    panel.context_scale.value = 0.75
    panel.context_weight.value = "level"
    got = panel.params(base)
    assert (got.context_levels, got.context_scale, got.context_weight) == (4, 0.75, "level")
    # a scale the box shows rounded (two decimals) is kept exact while left alone
    odd = dataclasses.replace(base, context_scale=4 / 3)
    panel.set_params(odd)
    assert panel.context_scale.value == 1.33 and panel.params(base) == odd
    panel.context_scale.value = 2.0
    assert panel.params(base).context_scale == 2.0


def test_features_panel_enables_the_context_settings_only_with_context(panel):
    def enabled():
        return [w.enabled for w in (panel.context_levels, panel.context_scale,
                                    panel.context_weight)]  # fmt: skip

    assert panel.context.value and enabled() == [True] * 3
    panel.context.value = False
    assert enabled() == [False] * 3
    got = panel.params()
    assert got.context is False
    assert (got.context_levels, got.context_scale, got.context_weight) == (4, 1.5, "level")
    panel.context.value = True
    assert enabled() == [True] * 3
    panel.set_params(FeatureParams(context=False, context_levels=2, context_scale=1.0,
                                   context_weight="finest"))  # fmt: skip
    assert enabled() == [False] * 3
    shown = (panel.context_levels.value, panel.context_scale.value, panel.context_weight.value)
    assert shown == (2, 1.0, "finest")
    panel.set_params(FeatureParams())
    assert enabled() == [True] * 3

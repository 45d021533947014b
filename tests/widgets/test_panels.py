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
    assert (panel.context_levels.value, panel.context_scale.value) == (3, 1.5)  # the defaults
    got = panel.params(base)
    assert (got.context, got.context_levels, got.context_scale) == (True, 3, 1.5)
    # a session of before the settings (two levels at scale 1) round-trips unchanged
    old = dataclasses.replace(base, context_levels=2, context_scale=1.0)
    panel.set_params(old)
    assert (panel.context_levels.value, panel.context_scale.value) == (2, 1.0)
    assert panel.params(base) == old
    # what the user sets is what the session gets
    panel.context_levels.value = 4
    panel.context_scale.value = 0.75
    assert (panel.params(base).context_levels, panel.params(base).context_scale) == (4, 0.75)
    # a scale the box shows rounded (two decimals) is kept exact while left alone
    odd = dataclasses.replace(base, context_scale=4 / 3)
    panel.set_params(odd)
    assert panel.context_scale.value == 1.33 and panel.params(base) == odd
    panel.context_scale.value = 2.0
    assert panel.params(base).context_scale == 2.0


def test_features_panel_enables_the_context_settings_only_with_context(panel):
    assert panel.context.value and panel.context_levels.enabled and panel.context_scale.enabled
    panel.context.value = False
    assert not panel.context_levels.enabled and not panel.context_scale.enabled
    got = panel.params()
    assert got.context is False and (got.context_levels, got.context_scale) == (3, 1.5)
    panel.context.value = True
    assert panel.context_levels.enabled and panel.context_scale.enabled
    panel.set_params(FeatureParams(context=False, context_levels=2, context_scale=1.0))
    assert not panel.context_levels.enabled and not panel.context_scale.enabled
    assert (panel.context_levels.value, panel.context_scale.value) == (2, 1.0)
    panel.set_params(FeatureParams())
    assert panel.context_levels.enabled and panel.context_scale.enabled

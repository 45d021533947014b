import numpy as np
import pytest

from napari_featann.core.gradient import classic_gradient, compute_gradient, resize, rgb_to_lab
from napari_featann.core.images import to_float_rgb
from napari_featann.core.progress import CancelAfter, Cancelled


def test_lab_of_white_and_black():
    lab = rgb_to_lab(np.array([[[1.0, 1.0, 1.0], [0.0, 0.0, 0.0]]], np.float32))
    np.testing.assert_allclose(lab[0, 0], [100, 0, 0], atol=0.5)
    np.testing.assert_allclose(lab[0, 1], [0, 0, 0], atol=0.5)


def test_gradient_is_high_on_edges_only(squares_image):
    g = classic_gradient(to_float_rgb(squares_image))
    assert g.shape == (48, 64) and g.dtype == np.float32
    assert g.min() >= 0 and g.max() <= 1
    assert g[16, 7:9].max() > 0.5  # left border of the red square
    assert g[40:46, 2:6].max() < 0.05  # flat grey
    assert g[15:17, 15:17].max() < 0.05  # flat inside, 7 px from the border


def test_colour_edge_without_luminance_change():
    img = np.zeros((20, 20, 3), np.float32)
    img[:, :10] = (0.6, 0.3, 0.3)
    img[:, 10:] = (0.3, 0.45, 0.3)
    g = classic_gradient(img)
    assert g[:, 9:11].mean() > 10 * g[:, :5].mean() + 0.1


def test_multiscale_same_shape_and_average(squares_image):
    img = to_float_rgb(squares_image)
    g1 = compute_gradient(img)
    g4 = compute_gradient(img, scales=(0.5, 1, 1.5, 2))
    assert g4.shape == g1.shape
    assert g4[16, 7:9].max() > 0.3


def test_resize_exact_shape():
    assert resize(np.zeros((7, 9, 3)), (15, 4)).shape == (15, 4, 3)


def test_bad_arguments(squares_image):
    img = to_float_rgb(squares_image)
    with pytest.raises(ValueError, match="unknown gradient"):
        compute_gradient(img, method="sobel")
    with pytest.raises(ValueError, match="weights"):
        compute_gradient(img, method="hed")
    with pytest.raises(ValueError, match="positive"):
        compute_gradient(img, scales=(0,))
    with pytest.raises(ValueError, match="RGB"):
        classic_gradient(np.zeros((4, 4)))


def test_cancel_between_scales(squares_image):
    with pytest.raises(Cancelled):
        compute_gradient(to_float_rgb(squares_image), scales=(1, 2), progress=CancelAfter(1))

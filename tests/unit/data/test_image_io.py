from __future__ import annotations

import warnings

import numpy as np
import pytest
from PIL import Image

from helpers import declared_png
from humanparse.data.image_io import DEFAULT_MAX_PIXELS, DataError, read_image, read_label, write_label_png
from humanparse.schemas import LIP


def _gradient(h=12, w=20):
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([x * 10, y * 20, (x + y) * 5], axis=2).astype(np.uint8)


def test_exif_orientation_is_applied(tmp_path):
    rgb = _gradient()
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    p = tmp_path / "rot.jpg"
    Image.fromarray(rgb).save(p, exif=exif, quality=100)
    out = read_image(p)
    assert out.shape == (20, 12, 3)  # width and height swapped: displayed upright
    upright = np.asarray(Image.fromarray(rgb).transpose(Image.Transpose.ROTATE_270))
    assert np.abs(out.astype(int) - upright.astype(int)).mean() < 4


def test_modes_are_converted(tmp_path):
    grey = (np.arange(48).reshape(6, 8) * 5).astype(np.uint8)
    Image.fromarray(grey, "L").save(tmp_path / "g.png")
    out = read_image(tmp_path / "g.png")
    assert out.shape == (6, 8, 3) and (out[..., 1] == grey).all()

    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[..., 0] = 200
    rgba[:2, :, 3] = 255  # top half opaque red, bottom half transparent
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    out = read_image(tmp_path / "a.png")
    assert (out[0, 0] == [200, 0, 0]).all() and (out[3, 0] == [255, 255, 255]).all()

    pal = Image.fromarray(np.array([[0, 1], [1, 0]], np.uint8), "P")
    pal.putpalette([10, 20, 30, 40, 50, 60] + [0] * 762)
    pal.save(tmp_path / "p.png")
    out = read_image(tmp_path / "p.png")
    assert (out[0, 1] == [40, 50, 60]).all() and (out[0, 0] == [10, 20, 30]).all()

    sixteen = (np.arange(16).reshape(4, 4) * 4000).astype(np.uint16)
    Image.fromarray(sixteen).save(tmp_path / "s.png")
    out = read_image(tmp_path / "s.png")
    assert out.dtype == np.uint8 and out[3, 3, 0] == round(60000 / 257)


def test_truncated_and_garbage_images_name_the_file(tmp_path):
    p = tmp_path / "cut.jpg"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), np.uint8)).save(p)
    p.write_bytes(p.read_bytes()[:400])
    with pytest.raises(DataError, match="cut.jpg.*truncated"):
        read_image(p)
    q = tmp_path / "junk.png"
    q.write_bytes(b"not an image")
    with pytest.raises(DataError, match="junk.png.*not a known image format"):
        read_image(q)
    with pytest.raises(DataError, match="does not exist"):
        read_image(tmp_path / "absent.jpg")


def test_label_roundtrip_and_checks(tmp_path):
    label = np.array([[0, 14, 15], [19, 255, 2]], np.uint8)
    p = tmp_path / "l.png"
    write_label_png(p, label, LIP.flat_palette())
    img = Image.open(p)
    assert img.mode == "P" and img.getpalette()[3:6] == [128, 0, 0]
    assert (read_label(p, num_classes=20) == label).all()
    with pytest.raises(DataError, match=r"l.png: label values \[14, 15, 19\] are outside"):
        read_label(p, num_classes=14)


def test_colour_label_needs_palette(tmp_path):
    ids = np.array([[0, 2], [13, 2]], np.uint8)
    rgb = LIP.palette_array()[ids]
    p = tmp_path / "c.png"
    Image.fromarray(rgb).save(p)
    with pytest.raises(DataError, match="colour image"):
        read_label(p)
    assert (read_label(p, palette=LIP.palette) == ids).all()
    rgb[0, 0] = (1, 2, 3)
    Image.fromarray(rgb).save(p)
    with pytest.raises(DataError, match=r"\(1, 2, 3\) is not in the schema's palette"):
        read_label(p, palette=LIP.palette)


def test_image_declaring_enormous_size_is_refused_from_its_header(tmp_path):
    bomb = declared_png(tmp_path / "bomb.png", 60000, 60000)
    assert bomb.stat().st_size < 4000
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no DecompressionBombWarning either
        for read in (read_image, read_label):
            with pytest.raises(DataError) as caught:
                read(bomb)
            assert caught.value.path == str(bomb)
            assert "60000x60000 pixels (W x H, 3,600,000,000 in all)" in caught.value.problem
            assert f"over the limit of {DEFAULT_MAX_PIXELS:,}" in caught.value.problem


def test_pixel_limit_is_an_argument_and_not_pillows(tmp_path, monkeypatch):
    Image.fromarray(_gradient(30, 40)).save(tmp_path / "small.png")
    with pytest.raises(DataError, match="40x30 pixels"):
        read_image(tmp_path / "small.png", max_pixels=1199)
    assert read_image(tmp_path / "small.png", max_pixels=1200).shape == (30, 40, 3)
    # A limit above Pillow's own is ours to set: Pillow's check neither warns nor refuses.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert read_image(tmp_path / "small.png", max_pixels=None).shape == (30, 40, 3)
        assert read_image(declared_png(tmp_path / "big.png", 3000, 2000), max_pixels=None).shape == (2000, 3000, 3)
    assert Image.MAX_IMAGE_PIXELS == 100  # and is put back

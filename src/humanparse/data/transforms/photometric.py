"""Colour augmentation: changes the image only, never labels, joints or maps."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


def _luminance(image: np.ndarray) -> np.ndarray:
    """(H, W, 1) grey levels of an RGB float image (ITU-R BT.601 weights)."""
    return (image @ np.array([0.299, 0.587, 0.114], dtype=np.float32))[..., None]


@dataclass(frozen=True)
class PhotometricJitter:
    """Random colour changes of an RGB uint8 image; geometry and annotations are untouched.

    brightness, contrast, saturation: each factor is drawn from [1 - v, 1 + v];
    hue: shift drawn from [-hue, hue] in fractions of a full turn;
    noise_std: standard deviation of Gaussian noise on 0..255 (0 = none);
    blur_prob, blur_sigma: probability of a Gaussian blur and its sigma range in pixels.
    """

    brightness: float = 0.2
    contrast: float = 0.2
    saturation: float = 0.2
    hue: float = 0.02
    noise_std: float = 0.0
    blur_prob: float = 0.0
    blur_sigma: tuple[float, float] = (0.1, 1.0)

    def __post_init__(self) -> None:
        for name in ("brightness", "contrast", "saturation"):
            if not 0 <= getattr(self, name) < 1:
                raise ValueError(f"PhotometricJitter.{name} must lie in [0, 1), not {getattr(self, name)}")
        if not 0 <= self.hue <= 0.5:
            raise ValueError(f"PhotometricJitter.hue must lie in [0, 0.5], not {self.hue}")
        if self.noise_std < 0 or not 0 <= self.blur_prob <= 1:
            raise ValueError("PhotometricJitter.noise_std must be >= 0 and blur_prob in [0, 1]")
        if not 0 < self.blur_sigma[0] <= self.blur_sigma[1]:
            raise ValueError(
                f"PhotometricJitter.blur_sigma must be (low, high) with 0 < low <= high, not {self.blur_sigma}"
            )

    def __call__(self, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"expected an (H, W, 3) uint8 image, got {image.shape} {image.dtype}")
        img = image.astype(np.float32)
        if self.brightness:
            img *= rng.uniform(1 - self.brightness, 1 + self.brightness)
        if self.contrast:
            mean = float(_luminance(img).mean())
            img = (img - mean) * rng.uniform(1 - self.contrast, 1 + self.contrast) + mean
        if self.saturation:
            grey = _luminance(img)
            img = (img - grey) * rng.uniform(1 - self.saturation, 1 + self.saturation) + grey
        img = np.clip(img, 0, 255)
        if self.hue:
            # Float HSV in cv2: hue in degrees [0, 360), values in [0, 1].
            hsv = cv2.cvtColor(img / 255.0, cv2.COLOR_RGB2HSV)
            hsv[..., 0] = (hsv[..., 0] + 360.0 * rng.uniform(-self.hue, self.hue)) % 360.0
            img = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB) * 255.0
        if self.noise_std:
            img = img + rng.normal(0.0, self.noise_std, img.shape).astype(np.float32)
        if self.blur_prob and rng.random() < self.blur_prob:
            img = cv2.GaussianBlur(img, (0, 0), float(rng.uniform(*self.blur_sigma)))
        return np.clip(np.rint(img), 0, 255).astype(np.uint8)

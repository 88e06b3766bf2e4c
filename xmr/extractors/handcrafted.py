"""Hand-crafted image features of the kind NUS-WIDE and UNCSM's datasets ship, from OpenCV
(opencv-contrib) and scikit-learn:

- ``color_histogram``: joint histogram in HSV / Lab / RGB, ``bins`` per channel (4 -> 64-d, as
  NUS-WIDE's CH), L1-normalised;
- ``color_moments``: mean, standard deviation and cube-rooted third moment per Lab channel in a
  ``grid`` x ``grid`` layout (5 -> 225-d, as NUS-WIDE's CM55);
- ``edge_histogram``: Canny edge pixels binned by gradient direction (``bins`` = 72, 5 degrees)
  plus one bin for non-edge pixels (73-d, as NUS-WIDE's EDH), as fractions of the pixels;
- ``gabor_gist``: GIST-like Gabor energies: mean magnitude of ``scales`` x ``orientations`` Gabor
  responses over a ``grid`` x ``grid`` layout (4 x 8 x 16 = 512-d, as GIST);
- ``sift_bovw``: SIFT descriptors (dense grid or detected keypoints) quantised with a k-means
  codebook learned on the training split (``codebook`` words, 500 as NUS-WIDE's BoW), as an
  L1-normalised histogram.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Sequence

import numpy as np
from PIL import Image
from pydantic import Field

from ..spec.models import Seed
from .base import Extractor, ExtractorParams, load_crop, register


class HandcraftedParams(ExtractorParams):
    image_size: int = Field(256, ge=16, le=1024, description="crops are resized to this square")


def _rgb(unit: tuple[Path, tuple | None], size: int) -> np.ndarray:
    path, box = unit
    return np.asarray(load_crop(path, box).resize((size, size), Image.BILINEAR), np.uint8)


class _PerImage(Extractor):
    modality = "image"

    def transform(self, units: Sequence[tuple[Path, tuple | None]]) -> np.ndarray:
        out = np.empty((len(units), self.dim), np.float32)
        for r, unit in enumerate(units):
            out[r] = self.describe(_rgb(unit, self.params.image_size))
        return out

    def describe(self, rgb: np.ndarray) -> np.ndarray:
        raise NotImplementedError


class ColorHistogramParams(HandcraftedParams):
    space: Literal["hsv", "lab", "rgb"] = "lab"
    bins: int = Field(4, ge=2, le=32, description="bins per channel; the feature has bins**3")


def convert(rgb: np.ndarray, space: str) -> tuple[np.ndarray, list[float]]:
    """The image in ``space`` (uint8) and the channel value ranges for histograms."""
    import cv2

    if space == "hsv":
        return cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV), [0, 180, 0, 256, 0, 256]
    if space == "lab":
        return cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB), [0, 256, 0, 256, 0, 256]
    return rgb, [0, 256, 0, 256, 0, 256]


@register("color_histogram")
class ColorHistogram(_PerImage):
    """Joint colour histogram (bins**3), L1-normalised (OpenCV)."""

    Params = ColorHistogramParams

    @property
    def dim(self) -> int:
        return self.params.bins ** 3

    def describe(self, rgb: np.ndarray) -> np.ndarray:
        import cv2

        img, ranges = convert(rgb, self.params.space)
        b = self.params.bins
        hist = cv2.calcHist([img], [0, 1, 2], None, [b, b, b], ranges).ravel()
        return hist / max(hist.sum(), 1.0)


class ColorMomentsParams(HandcraftedParams):
    grid: int = Field(5, ge=1, le=16)
    space: Literal["hsv", "lab", "rgb"] = "lab"


def color_moments(img: np.ndarray, grid: int) -> np.ndarray:
    """Per grid cell and channel: mean, std and cube root of the third central moment."""
    h, w = img.shape[:2]
    out = []
    for r in range(grid):
        for c in range(grid):
            cell = img[r * h // grid:(r + 1) * h // grid, c * w // grid:(c + 1) * w // grid]
            x = cell.reshape(-1, img.shape[2]).astype(np.float64)
            mean = x.mean(0)
            out += [mean, x.std(0), np.cbrt(((x - mean) ** 3).mean(0))]
    return np.concatenate(out)


@register("color_moments")
class ColorMoments(_PerImage):
    """Block-wise colour moments: grid x grid x 3 channels x 3 moments (225-d for grid 5)."""

    Params = ColorMomentsParams

    @property
    def dim(self) -> int:
        return 9 * self.params.grid ** 2

    def describe(self, rgb: np.ndarray) -> np.ndarray:
        return color_moments(convert(rgb, self.params.space)[0], self.params.grid)


class EdgeHistogramParams(HandcraftedParams):
    bins: int = Field(72, ge=4, le=360, description="direction bins over 360 degrees")
    low: int = Field(100, ge=0, le=100_000, description="Canny lower threshold")
    high: int = Field(200, ge=0, le=100_000, description="Canny upper threshold")


@register("edge_histogram")
class EdgeHistogram(_PerImage):
    """Edge direction histogram: Canny edges by Sobel direction, plus a non-edge bin (73-d)."""

    Params = EdgeHistogramParams

    @property
    def dim(self) -> int:
        return self.params.bins + 1

    def describe(self, rgb: np.ndarray) -> np.ndarray:
        import cv2

        gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        edges = cv2.Canny(gray, self.params.low, self.params.high) > 0
        gx = cv2.Sobel(gray, cv2.CV_32F, 1, 0)
        gy = cv2.Sobel(gray, cv2.CV_32F, 0, 1)
        angle = (np.degrees(np.arctan2(gy[edges], gx[edges])) + 360.0) % 360.0
        b = self.params.bins
        hist = np.bincount(np.minimum((angle * b / 360.0).astype(int), b - 1), minlength=b)
        return np.append(hist, (~edges).sum()).astype(np.float64) / edges.size


class GaborParams(HandcraftedParams):
    image_size: int = Field(128, ge=16, le=1024)
    scales: list[float] = Field(default_factory=lambda: [4.0, 8.0, 16.0, 32.0],
                                description="Gabor wavelengths in pixels")
    orientations: int = Field(8, ge=1, le=32)
    grid: int = Field(4, ge=1, le=16)


@register("gabor_gist")
class GaborGist(_PerImage):
    """GIST-like descriptor: Gabor energies, scales x orientations x grid**2 (512-d by default)."""

    Params = GaborParams

    @property
    def dim(self) -> int:
        return len(self.params.scales) * self.params.orientations * self.params.grid ** 2

    def _bank(self) -> list[np.ndarray]:
        import cv2

        if getattr(self, "_kernels", None) is None:
            self._kernels = []
            for lam in self.params.scales:
                size = int(2 * round(lam) + 1)
                for k in range(self.params.orientations):
                    theta = np.pi * k / self.params.orientations
                    kern = cv2.getGaborKernel((size, size), 0.56 * lam, theta, lam, 1.0, 0, cv2.CV_32F)
                    self._kernels.append(kern - kern.mean())
        return self._kernels

    def describe(self, rgb: np.ndarray) -> np.ndarray:
        import cv2

        gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0
        g, (h, w) = self.params.grid, gray.shape
        out = []
        for kern in self._bank():
            energy = np.abs(cv2.filter2D(gray, cv2.CV_32F, kern))
            cells = energy[: h // g * g, : w // g * g].reshape(g, h // g, g, w // g).mean(axis=(1, 3))
            out.append(cells.ravel())
        return np.concatenate(out)


class SiftParams(HandcraftedParams):
    codebook: int = Field(500, ge=2, le=100_000, description="k-means words learned on the training split")
    keypoints: Literal["dense", "detected"] = "dense"
    step: int = Field(16, ge=4, le=1024, description="dense grid step in pixels")
    size: int = Field(16, ge=4, le=1024, description="dense keypoint diameter in pixels")
    fit_images: int = Field(500, ge=1, le=10**7, description="training images sampled to learn the codebook")
    fit_descriptors: int = Field(100_000, ge=100, le=10**8, description="descriptors sampled for k-means")
    seed: Seed = 0


@register("sift_bovw")
class SiftBoVW(Extractor):
    """SIFT bag of visual words: OpenCV SIFT + a k-means codebook fitted on the training split."""

    modality = "image"
    Params = SiftParams

    def _descriptors(self, rgb: np.ndarray) -> np.ndarray:
        import cv2

        if getattr(self, "_sift", None) is None:
            self._sift = cv2.SIFT_create()
        gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        p = self.params
        if p.keypoints == "dense":
            half = p.size // 2
            kps = [cv2.KeyPoint(float(x), float(y), float(p.size))
                   for y in range(half, gray.shape[0] - half + 1, p.step)
                   for x in range(half, gray.shape[1] - half + 1, p.step)]
            _, desc = self._sift.compute(gray, kps)
        else:
            _, desc = self._sift.detectAndCompute(gray, None)
        return desc if desc is not None else np.zeros((0, 128), np.float32)

    def fit(self, train_units: Sequence[tuple[Path, tuple | None]]) -> None:
        from sklearn.cluster import MiniBatchKMeans

        p = self.params
        rng = np.random.default_rng(p.seed)
        pick = rng.permutation(len(train_units))[: p.fit_images]
        desc = [self._descriptors(_rgb(train_units[i], p.image_size)) for i in sorted(pick)]
        desc = np.concatenate(desc) if desc else np.zeros((0, 128), np.float32)
        if len(desc) < p.codebook:
            raise ValueError(f"extractor sift_bovw: {len(desc)} training descriptors for a codebook "
                             f"of {p.codebook} words; lower `codebook` or the dense `step`")
        if len(desc) > p.fit_descriptors:
            desc = desc[rng.choice(len(desc), p.fit_descriptors, replace=False)]
        self.kmeans = MiniBatchKMeans(n_clusters=p.codebook, random_state=p.seed, n_init=3,
                                      batch_size=4096).fit(desc.astype(np.float32))

    @property
    def dim(self) -> int:
        return self.params.codebook

    def transform(self, units: Sequence[tuple[Path, tuple | None]]) -> np.ndarray:
        out = np.zeros((len(units), self.dim), np.float32)
        for r, unit in enumerate(units):
            desc = self._descriptors(_rgb(unit, self.params.image_size))
            if len(desc):
                words = self.kmeans.predict(desc.astype(np.float32))
                out[r] = np.bincount(words, minlength=self.dim) / len(words)
        return out

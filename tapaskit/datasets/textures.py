"""The procedural ``textures`` dataset: coloured gratings whose orientation is the class.

Each image is a grating at one of ``orientations`` angles spaced evenly over 180°, jittered by up
to a quarter of the spacing, with random frequency (1.5 to 5 cycles per image), phase, waveform
(sine or near-square) and two random colours; a weaker distractor grating at a random angle and
Gaussian pixel noise of strength ``clutter`` make neighbouring orientations confusable.
"""

from __future__ import annotations

import numpy as np

from tapaskit.errors import InvalidOptionError


def texture_class_names(orientations: int) -> tuple[str, ...]:
    """Class names of the ``textures`` dataset: the angles, e.g. ``("0deg", "22.5deg", ...)``."""
    return tuple(f"{180 * k / orientations:g}deg" for k in range(orientations))


def generate_textures(
    samples: int = 6000,
    res: int = 32,
    clutter: float = 0.2,
    orientations: int = 8,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Draw the ``textures`` images.

    Args:
        samples: Number of images; classes are balanced (they differ by at most one).
        res: Side of the square RGB images in pixels, 8 to 128.
        clutter: Standard deviation of the Gaussian pixel noise, 0 to 1; the distractor grating's
            amplitude is uniform in ``[0, 2 * clutter]`` (capped at 0.8) of the main one.
        orientations: Number of classes (angles), 2 to 36.
        seed: Seed of the generator; the same arguments give the same arrays.

    Returns:
        ``(x, y)``: ``x`` float32 ``(samples, 3, res, res)`` in ``[0, 1]``, ``y`` int64
        ``(samples,)``.

    Raises:
        InvalidOptionError: If an argument is outside its range.
    """
    if not 2 <= orientations <= 36:
        raise InvalidOptionError(f"orientations must be between 2 and 36, got {orientations}")
    if samples < 2 * orientations:
        raise InvalidOptionError(
            f"samples must be at least {2 * orientations} (2 per orientation), got {samples}"
        )
    if not 8 <= res <= 128:
        raise InvalidOptionError(f"res must be between 8 and 128, got {res}")
    if not 0.0 <= clutter <= 1.0:
        raise InvalidOptionError(f"clutter must be between 0 and 1, got {clutter}")

    rng = np.random.default_rng(seed)
    y = rng.permutation(np.arange(samples) % orientations).astype(np.int64)
    spacing = np.pi / orientations
    theta = y * spacing + rng.uniform(-0.25, 0.25, samples) * spacing
    main = _grating(theta, rng, res)  # (N, res, res) in [-1, 1]
    distractor = _grating(rng.uniform(0, np.pi, samples), rng, res)
    strength = rng.uniform(0, min(0.8, 2 * clutter), samples).astype(np.float32)[:, None, None]
    pattern = (main + strength * distractor) / (1 + strength)  # still in [-1, 1]

    low = rng.uniform(0.0, 1.0, (samples, 3)).astype(np.float32)
    high = rng.uniform(0.0, 1.0, (samples, 3)).astype(np.float32)
    weak = np.abs(high - low).max(axis=1) < 0.35  # too little contrast: push one channel apart
    channel = rng.integers(0, 3, samples)
    rows = np.flatnonzero(weak)
    high[rows, channel[rows]] = np.where(low[rows, channel[rows]] < 0.5, 0.9, 0.1)

    mix = (0.5 + 0.5 * pattern)[:, None]  # (N, 1, res, res)
    x = low[:, :, None, None] + (high - low)[:, :, None, None] * mix  # (N, 3, res, res)
    x += rng.standard_normal(x.shape, dtype=np.float32) * np.float32(clutter)
    return np.clip(x, 0.0, 1.0), y


def _grating(theta: np.ndarray, rng: np.random.Generator, res: int) -> np.ndarray:
    n = len(theta)
    grid = (np.arange(res, dtype=np.float32) + 0.5) / res - 0.5
    freq = rng.uniform(1.5, 5.0, n)
    phase = rng.uniform(0, 2 * np.pi, n).astype(np.float32)[:, None, None]
    kx = (2 * np.pi * freq * np.cos(theta)).astype(np.float32)[:, None, None]
    ky = (2 * np.pi * freq * np.sin(theta)).astype(np.float32)[:, None, None]
    wave = np.sin(kx * grid[None, None, :] + ky * grid[None, :, None] + phase)  # (n, res, res)
    squarish = rng.random(n) < 0.4
    wave[squarish] = np.tanh(3 * wave[squarish]) / np.float32(np.tanh(3.0))
    return wave

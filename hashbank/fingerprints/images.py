"""Decoding image files for the reference hashers, exactly as platforms' Python tools do.

Pillow is pinned in pyproject: the browser code reproduces this version's behaviour. No EXIF
rotation is applied (pdqhash and imagehash apply none); the first frame of an animation is used.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def open_image(path: str | Path) -> Any:
    from PIL import Image

    image = Image.open(path)
    image.load()
    return image


def load_rgb(path: str | Path) -> Any:
    """An (h, w, 3) uint8 array of the file's first frame, Pillow's own RGB conversion."""
    import numpy as np

    return np.asarray(open_image(path).convert("RGB"), dtype=np.uint8)

"""Decoding image files for the reference hashers, exactly as platforms' Python tools do.

Pillow is pinned in pyproject: the browser code reproduces this version's behaviour. No EXIF
rotation is applied (pdqhash and imagehash apply none); the first frame of an animation is used.

HEIC/HEIF (iPhones' photos) is decoded by pillow-heif (libheif with libde265), pinned too, as
a platform that registers its opener does; AVIF by Pillow's own plugin (libavif with dav1d).
One difference a platform should know: libheif applies the file's own rotation and mirror
(the `irot` and `imir` boxes, which is how HEIF stores a phone's orientation) while decoding,
so a HEIC's fingerprints are of the picture as shown, where a JPEG's are of its stored pixels.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any


@functools.cache
def heif_registered() -> None:
    """Let Pillow open HEIC/HEIF files (once per process). No thumbnails: Pillow's draft()
    would otherwise decode a file's small embedded preview instead of the picture; no depth
    or auxiliary images, which nothing here hashes."""
    from pillow_heif import register_heif_opener

    register_heif_opener(thumbnails=False, depth_images=False, aux_images=False)


def open_image(path: str | Path) -> Any:
    from PIL import Image

    heif_registered()
    image = Image.open(path)
    image.load()
    return image


def load_rgb(path: str | Path) -> Any:
    """An (h, w, 3) uint8 array of the file's first frame, Pillow's own RGB conversion."""
    import numpy as np

    return np.asarray(open_image(path).convert("RGB"), dtype=np.uint8)

"""Photos sent as files: check they are images and strip their metadata before anyone sees them."""

from __future__ import annotations

import io

from PIL import Image, ImageOps, UnidentifiedImageError

IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/webp"})


class NotAnImage(ValueError):
    """The bytes are not an image Pillow can read."""


def strip_metadata(data: bytes) -> bytes:
    """Re-encode as JPEG from pixels alone, so EXIF (GPS, device, owner) never leaves the bot."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            # Apply the EXIF rotation before dropping EXIF, or the photo would appear sideways.
            upright = ImageOps.exif_transpose(image)
            pixels = upright.convert("RGB")
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise NotAnImage(str(exc)) from None
    clean = Image.new("RGB", pixels.size)
    clean.paste(pixels)
    out = io.BytesIO()
    clean.save(out, format="JPEG", quality=88)
    return out.getvalue()

"""Small test images, optionally carrying EXIF with a GPS position, and a way to read it back."""

from __future__ import annotations

import io
from typing import Any

from PIL import ExifTags, Image

Color = tuple[int, int, int]

# A spot in 长兴县 (Changxing county), so stripped-or-not is easy to recognise.
GPS_LATITUDE = (31.0, 1.0, 30.0)
GPS_LONGITUDE = (119.0, 54.0, 36.0)


def _image(width: int, height: int, color: Color) -> Image.Image:
    image = Image.new("RGB", (width, height), color)
    # A darker band keeps the picture from being a flat colour (and compressing to nothing).
    band = Image.new("RGB", (max(1, width // 4), height), tuple(c // 2 for c in color))
    image.paste(band, (0, 0))
    return image


def _exif() -> Image.Exif:
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "Fakegram"
    exif[ExifTags.Base.Model] = "Rider Phone"
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = GPS_LATITUDE
    gps[ExifTags.GPS.GPSLongitudeRef] = "E"
    gps[ExifTags.GPS.GPSLongitude] = GPS_LONGITUDE
    return exif


def _encode(image: Image.Image, kind: str, exif: bool) -> bytes:
    out = io.BytesIO()
    if exif:
        image.save(out, kind, exif=_exif())
    else:
        image.save(out, kind)
    return out.getvalue()


def jpeg(
    width: int = 640, height: int = 480, color: Color = (200, 50, 50), exif: bool = False
) -> bytes:
    return _encode(_image(width, height, color), "JPEG", exif)


def png(
    width: int = 640, height: int = 480, color: Color = (200, 50, 50), exif: bool = False
) -> bytes:
    return _encode(_image(width, height, color), "PNG", exif)


def exif_of(data: bytes) -> dict[str, Any]:
    """The EXIF tags of an image by name, with the GPS block under "GPSInfo" ({} if none)."""
    with Image.open(io.BytesIO(data)) as image:
        exif = image.getexif()
        tags: dict[str, Any] = {ExifTags.TAGS.get(k, str(k)): v for k, v in exif.items()}
        gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
        if gps:
            tags["GPSInfo"] = {ExifTags.GPSTAGS.get(k, str(k)): v for k, v in gps.items()}
        else:
            tags.pop("GPSInfo", None)
        return tags


def has_gps(data: bytes) -> bool:
    return "GPSInfo" in exif_of(data)


def size_of(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as image:
        return image.size

"""Files as Telegram keeps them: file ids, photo size sets, file paths for download."""

from __future__ import annotations

import io
import mimetypes
import secrets
from dataclasses import dataclass
from typing import Any

from PIL import Image, ImageOps, UnidentifiedImageError

from fakegram.errors import bad_request

MB = 1024 * 1024
MAX_PHOTO_UPLOAD = 10 * MB
MAX_DOCUMENT_UPLOAD = 50 * MB
MAX_DOWNLOAD = 20 * MB

# Telegram's photo size ladder (longest side) for compressed photos; the largest is the photo.
_PHOTO_SIDES = (90, 320, 800, 1280)
_PREFIX = {
    "photo": "AgACAgIAAxkBAAI",
    "document": "BQACAgIAAxkBAAI",
    "thumbnail": "AAMCAgADGQEAAi",
    "sticker": "CAACAgIAAxkBAAI",
    "voice": "AwACAgIAAxkBAAI",
}
_FOLDER = {
    "photo": "photos",
    "document": "documents",
    "thumbnail": "thumbnails",
    "sticker": "stickers",
    "voice": "voice",
}


@dataclass(slots=True)
class StoredFile:
    file_id: str
    file_unique_id: str
    kind: str
    data: bytes
    size: int  # the size Telegram reports; may exceed len(data) for simulated huge files
    file_path: str
    file_name: str | None = None
    mime_type: str | None = None
    width: int | None = None
    height: int | None = None
    photo_set: str | None = None

    def photo_size(self) -> dict[str, Any]:
        return {
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
            "file_size": self.size,
            "width": self.width or 0,
            "height": self.height or 0,
        }

    def file(self) -> dict[str, Any]:
        return {
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
            "file_size": self.size,
            "file_path": self.file_path,
        }


class FileStore:
    def __init__(self) -> None:
        self.files: dict[str, StoredFile] = {}
        self.by_path: dict[str, StoredFile] = {}
        self.photo_sets: dict[str, list[StoredFile]] = {}
        self._thumbnails: dict[str, dict[str, Any] | None] = {}
        self._counter = 0

    def add(
        self,
        kind: str,
        data: bytes,
        *,
        size: int | None = None,
        file_name: str | None = None,
        mime_type: str | None = None,
        width: int | None = None,
        height: int | None = None,
        photo_set: str | None = None,
    ) -> StoredFile:
        self._counter += 1
        extension = _extension(kind, file_name, mime_type)
        stored = StoredFile(
            file_id=_PREFIX[kind] + secrets.token_urlsafe(30),
            file_unique_id="AQAD" + secrets.token_urlsafe(9),
            kind=kind,
            data=data,
            size=len(data) if size is None else size,
            file_path=f"{_FOLDER[kind]}/file_{self._counter}{extension}",
            file_name=file_name,
            mime_type=mime_type,
            width=width,
            height=height,
            photo_set=photo_set,
        )
        self.files[stored.file_id] = stored
        self.by_path[stored.file_path] = stored
        return stored

    def get(self, file_id: str) -> StoredFile | None:
        return self.files.get(file_id)

    def add_photo(self, data: bytes) -> list[dict[str, Any]]:
        """Recompress an uploaded image the way Telegram does: several JPEG sizes, no metadata."""
        if not data:
            raise bad_request("file must be non-empty")
        if len(data) > MAX_PHOTO_UPLOAD:
            raise bad_request("PHOTO_SAVE_FILE_INVALID")
        image = _open_image(data)
        width, height = image.size
        if width + height > 10000 or max(width, height) > 20 * min(width, height):
            raise bad_request("PHOTO_INVALID_DIMENSIONS")
        set_id = secrets.token_hex(8)
        sizes: list[StoredFile] = []
        seen: list[tuple[int, int]] = []
        for side in _PHOTO_SIDES:
            dims = _fit(width, height, side)
            if dims in seen:
                continue
            seen.append(dims)
            jpeg = _jpeg(image, dims)
            sizes.append(
                self.add(
                    "photo",
                    jpeg,
                    width=dims[0],
                    height=dims[1],
                    photo_set=set_id,
                    mime_type="image/jpeg",
                )
            )
        if len(sizes) < 2:  # tiny images still come back as a small and a "full" size
            dims = seen[0]
            sizes.insert(
                0,
                self.add(
                    "photo",
                    _jpeg(image, dims),
                    width=dims[0],
                    height=dims[1],
                    photo_set=set_id,
                    mime_type="image/jpeg",
                ),
            )
        self.photo_sets[set_id] = sizes
        return [s.photo_size() for s in sizes]

    def photo_of(self, stored: StoredFile) -> list[dict[str, Any]]:
        assert stored.photo_set is not None
        return [s.photo_size() for s in self.photo_sets[stored.photo_set]]

    def add_document(
        self, data: bytes, file_name: str | None, mime_type: str | None, size: int | None = None
    ) -> dict[str, Any]:
        if not data and not size:
            raise bad_request("file must be non-empty")
        if mime_type in (None, "", "application/octet-stream") and file_name:
            mime_type = mimetypes.guess_type(file_name)[0] or mime_type
        stored = self.add(
            "document",
            data,
            size=size,
            file_name=file_name,
            mime_type=mime_type or "application/octet-stream",
        )
        return self.document_of(stored)

    def document_of(self, stored: StoredFile) -> dict[str, Any]:
        document: dict[str, Any] = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": stored.size,
        }
        if stored.file_name:
            document["file_name"] = stored.file_name
        if stored.mime_type:
            document["mime_type"] = stored.mime_type
        if stored.file_id not in self._thumbnails:
            self._thumbnails[stored.file_id] = self._thumbnail(stored)
        thumbnail = self._thumbnails[stored.file_id]
        if thumbnail is not None:
            document["thumbnail"] = thumbnail
        return document

    def _thumbnail(self, stored: StoredFile) -> dict[str, Any] | None:
        if not (stored.mime_type or "").startswith("image/") or not stored.data:
            return None
        try:
            image = _open_image(stored.data)
        except Exception:  # a corrupt "image" document simply has no thumbnail
            return None
        dims = _fit(*image.size, 320)
        thumb = self.add(
            "thumbnail", _jpeg(image, dims), width=dims[0], height=dims[1], mime_type="image/jpeg"
        )
        return thumb.photo_size()


def _open_image(data: bytes) -> Image.Image:
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        raise bad_request("IMAGE_PROCESS_FAILED") from None
    return ImageOps.exif_transpose(image)


def _fit(width: int, height: int, side: int) -> tuple[int, int]:
    scale = min(1.0, side / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def _jpeg(image: Image.Image, dims: tuple[int, int]) -> bytes:
    if image.mode not in ("RGB", "L"):
        background = Image.new("RGB", image.size, (255, 255, 255))
        rgba = image.convert("RGBA")
        background.paste(rgba, mask=rgba.getchannel("A"))
        image = background
    resized = image.resize(dims, Image.Resampling.LANCZOS) if dims != image.size else image
    out = io.BytesIO()
    resized.save(out, "JPEG", quality=87)  # no exif= argument: metadata is dropped, as Telegram
    return out.getvalue()


def _extension(kind: str, file_name: str | None, mime_type: str | None) -> str:
    if kind in ("photo", "thumbnail"):
        return ".jpg"
    if kind == "sticker":
        return ".webp"
    if kind == "voice":
        return ".oga"
    if file_name and "." in file_name:
        return "." + file_name.rsplit(".", 1)[1][:10]
    return mimetypes.guess_extension(mime_type or "") or ""

"""Photos of a ticket (随手拍): validated by opening them, re-encoded without metadata, stored
as ``Attachment`` rows with their SHA-256.

An upload is trusted for nothing it says about itself: not its name, not its content type.
Pillow must open and fully decode it as JPEG, PNG or WebP; it is then written out again from
its pixels only, so EXIF (GPS position, camera, time) and any other embedded data are gone.
All photos of a submission are checked before anything is written, and the ticket and its
attachments are written in one transaction: a bad photo creates nothing.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass
from typing import Any

from django.core.files.base import ContentFile
from django.db import transaction
from PIL import Image, ImageOps, UnidentifiedImageError

from jiayuan.core.errors import JiayuanError
from jiayuan.tickets.models import Attachment, Ticket
from jiayuan.tickets.services import Intake, ticket_create

MAX_PHOTOS = 3
MAX_BYTES = 5 * 1024 * 1024
MAX_PIXELS = 40_000_000  # 40 MP: more than any phone camera, far less than a decompression bomb
MAX_SIDE = 4096  # stored photos are scaled down to this longest side
FORMATS = {
    "JPEG": ("image/jpeg", "jpg"),
    "PNG": ("image/png", "png"),
    "WEBP": ("image/webp", "webp"),
}


@dataclass(frozen=True)
class CleanImage:
    """A photo that passed the checks, re-encoded, ready to store."""

    content: bytes
    content_type: str
    ext: str
    sha256: str

    @property
    def size(self) -> int:
        return len(self.content)


def _bad(message: str, field: str) -> JiayuanError:
    return JiayuanError(message, code="invalid_image", field=field)


def clean_image(upload: Any, *, field: str = "photos") -> CleanImage:
    """Open ``upload`` (a Django ``UploadedFile`` or any file object with ``size``/``read``) with
    Pillow and return it re-encoded without metadata; raise ``JiayuanError`` when it is not a
    JPEG/PNG/WebP image of at most 5 MB."""
    name = getattr(upload, "name", "") or "图片"
    size = getattr(upload, "size", None)
    if size is not None and size > MAX_BYTES:
        raise _bad(f"“{name}”超过 5 MB，请压缩后再上传", field)
    raw = upload.read(MAX_BYTES + 1)
    if len(raw) > MAX_BYTES:
        raise _bad(f"“{name}”超过 5 MB，请压缩后再上传", field)
    if not raw:
        raise _bad(f"“{name}”是空文件", field)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(raw)) as probe:
                fmt = probe.format
                if fmt not in FORMATS:
                    raise _bad(f"“{name}”不是 JPEG、PNG 或 WebP 图片", field)
                width, height = probe.size
                if width * height > MAX_PIXELS:
                    raise _bad(f"“{name}”像素过大", field)
                probe.load()  # decode fully: a truncated or corrupt file fails here
                image = ImageOps.exif_transpose(probe)  # keep the photo upright, then drop EXIF
    except JiayuanError:
        raise
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        raise _bad(f"“{name}”不是可识别的图片（仅支持 JPEG、PNG、WebP）", field) from None
    except (Image.DecompressionBombWarning, MemoryError):
        raise _bad(f"“{name}”像素过大", field) from None
    assert fmt is not None
    if max(image.size) > MAX_SIDE:
        image.thumbnail((MAX_SIDE, MAX_SIDE))
    out = io.BytesIO()
    if fmt == "JPEG":
        if image.mode not in ("RGB", "L"):
            image = image.convert("RGB")
        image.save(out, format="JPEG", quality=85, optimize=True)
    elif fmt == "PNG":
        if image.mode not in ("RGB", "RGBA", "L", "LA", "P"):
            image = image.convert("RGBA")
        image.save(out, format="PNG", optimize=True)
    else:
        if image.mode not in ("RGB", "RGBA"):
            image = image.convert("RGBA" if "A" in image.getbands() else "RGB")
        image.save(out, format="WEBP", quality=85)
    content = out.getvalue()
    content_type, ext = FORMATS[fmt]
    return CleanImage(
        content=content,
        content_type=content_type,
        ext=ext,
        sha256=hashlib.sha256(content).hexdigest(),
    )


def clean_images(uploads: list[Any], *, field: str = "photos") -> list[CleanImage]:
    """Check every photo of one submission (at most ``MAX_PHOTOS``) before anything is stored."""
    uploads = [u for u in uploads if u is not None]
    if len(uploads) > MAX_PHOTOS:
        raise JiayuanError(f"最多上传 {MAX_PHOTOS} 张图片", code="too_many_images", field=field)
    return [clean_image(u, field=field) for u in uploads]


def attach_images(
    *, ticket: Ticket, images: list[CleanImage], event_seq: int | None = None
) -> list[Attachment]:
    """Store cleaned photos as attachments of ``ticket`` (of one of its events, if given)."""
    rows = []
    for image in images:
        attachment = Attachment(
            ticket=ticket,
            event_seq=event_seq,
            content_type=image.content_type,
            size=image.size,
            sha256=image.sha256,
        )
        attachment.file.save(
            f"{ticket.number}-{image.sha256[:12]}.{image.ext}",
            ContentFile(image.content),
            save=False,
        )
        attachment.save(force_insert=True)
        rows.append(attachment)
    return rows


def ticket_report(*, images: list[CleanImage], **fields: Any) -> Intake:
    """A resident's report with its photos: ``services.ticket_create`` and the attachments in
    one transaction. A repeated idempotency key returns the first ticket and stores nothing."""
    with transaction.atomic():
        intake = ticket_create(**fields)
        if intake.created and images:
            attach_images(ticket=intake.ticket, images=images, event_seq=1)
    return intake

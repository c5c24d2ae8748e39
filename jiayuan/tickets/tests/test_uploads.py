"""Photos of a report: opened with Pillow whatever they claim to be, re-encoded without EXIF,
stored with their SHA-256; anything else is a form error and creates nothing."""

from __future__ import annotations

import hashlib
import io
import os
import uuid
from typing import Any

import pytest
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from jiayuan.core.errors import JiayuanError
from jiayuan.tickets.models import Attachment, Ticket
from jiayuan.tickets.uploads import MAX_BYTES, clean_image


@pytest.fixture(autouse=True)
def _media_and_cache(settings: Any, tmp_path: Any) -> None:
    settings.MEDIA_ROOT = str(tmp_path / "media")
    cache.clear()


def image_bytes(fmt: str = "JPEG", size: tuple[int, int] = (64, 48), exif: bool = False) -> bytes:
    img = Image.new("RGB", size, (200, 30, 40))
    out = io.BytesIO()
    kwargs: dict[str, Any] = {}
    if exif:
        ex = Image.Exif()
        ex[0x010F] = "SecretCam"  # Make
        ex[0x0110] = "Model X"  # Model
        ex[0x0132] = "2026:11:23 10:00:00"  # DateTime
        ex[0x8825] = {1: "N", 2: (37.0, 32.0, 44.0), 3: "E", 4: (121.0, 24.0, 18.0)}  # GPS
        kwargs["exif"] = ex
    img.save(out, format=fmt, **kwargs)
    return out.getvalue()


def upload(name: str, content: bytes, content_type: str = "image/jpeg") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type=content_type)


def report(client: Any, world: Any, **extra: Any) -> Any:
    data = {
        "description": "楼下垃圾桶满了没人清运",
        "phone": "13900000001",
        "name": "张先生",
        "key": uuid.uuid4().hex,
        **extra,
    }
    return client.post(f"/r/{world.buildings['a1_1'].qr_token}/", data)


def test_jpeg_with_exif_is_stored_without_it(client, world):
    raw = image_bytes(exif=True)
    assert Image.open(io.BytesIO(raw)).getexif()[0x010F] == "SecretCam"
    response = report(client, world, photos=[upload("IMG_0001.jpg", raw)])
    assert response.status_code == 302
    ticket = Ticket.objects.get()
    attachment = Attachment.objects.get()
    assert (attachment.ticket, attachment.event_seq, attachment.content_type) == (
        ticket,
        1,
        "image/jpeg",
    )
    stored = attachment.file.read()
    assert attachment.size == len(stored)
    assert attachment.sha256 == hashlib.sha256(stored).hexdigest()
    assert b"SecretCam" not in stored and b"Exif" not in stored
    with Image.open(io.BytesIO(stored)) as img:
        assert img.format == "JPEG"
        assert img.size == (64, 48)
        assert dict(img.getexif()) == {}
        assert "exif" not in img.info


def test_png_and_webp_are_accepted_three_at_most(client, world):
    files = [
        upload("a.png", image_bytes("PNG"), "image/png"),
        upload("b.webp", image_bytes("WEBP"), "image/webp"),
        upload("c.jpg", image_bytes("JPEG")),
    ]
    assert report(client, world, photos=files).status_code == 302
    assert sorted(Attachment.objects.values_list("content_type", flat=True)) == [
        "image/jpeg",
        "image/png",
        "image/webp",
    ]


def test_four_photos_are_refused_and_nothing_is_created(client, world):
    files = [upload(f"{i}.jpg", image_bytes()) for i in range(4)]
    response = report(client, world, photos=files)
    assert response.status_code == 400
    assert "最多上传 3 张图片" in response.content.decode()
    assert (Ticket.objects.count(), Attachment.objects.count()) == (0, 0)


def test_a_text_file_renamed_jpg_is_refused(client, world):
    fake = upload("photo.jpg", b"this is not an image at all, just text" * 10)
    response = report(client, world, photos=[fake])
    assert response.status_code == 400
    assert "“photo.jpg”不是可识别的图片（仅支持 JPEG、PNG、WebP）" in response.content.decode()
    assert (Ticket.objects.count(), Attachment.objects.count()) == (0, 0)


def test_a_gif_is_refused_even_with_a_jpeg_name(client, world):
    response = report(client, world, photos=[upload("x.jpg", image_bytes("GIF"))])
    assert response.status_code == 400
    assert "“x.jpg”不是 JPEG、PNG 或 WebP 图片" in response.content.decode()
    assert Ticket.objects.count() == 0


def test_an_oversized_image_is_refused(client, world):
    side = 1400  # random pixels do not compress: ~5.9 MB as PNG
    noise = Image.frombytes("RGB", (side, side), os.urandom(side * side * 3))
    out = io.BytesIO()
    noise.save(out, format="PNG", compress_level=0)
    assert len(out.getvalue()) > MAX_BYTES
    response = report(client, world, photos=[upload("big.png", out.getvalue(), "image/png")])
    assert response.status_code == 400
    assert "“big.png”超过 5 MB，请压缩后再上传" in response.content.decode()
    assert (Ticket.objects.count(), Attachment.objects.count()) == (0, 0)


def test_a_truncated_jpeg_is_refused():
    raw = image_bytes(size=(400, 300))
    with pytest.raises(JiayuanError) as exc:
        clean_image(upload("cut.jpg", raw[: len(raw) // 2]))
    assert exc.value.message == "“cut.jpg”不是可识别的图片（仅支持 JPEG、PNG、WebP）"


def test_a_second_submit_with_the_same_key_stores_the_photos_once(client, world):
    key = uuid.uuid4().hex
    for _ in range(2):
        response = report(client, world, key=key, photos=[upload("a.jpg", image_bytes())])
        assert response.status_code == 302
    assert (Ticket.objects.count(), Attachment.objects.count()) == (1, 1)

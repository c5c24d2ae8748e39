"""Writes of the Open311 API: API keys (create, rotate, authenticate) and POST requests.

``request_submit`` turns a GeoReport v2 POST into one ``tickets.services.ticket_create`` call on
the ``open311`` channel. A retried POST carrying the same ``Idempotency-Key`` header under the
same API key answers with the ticket created the first time.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from jiayuan.core.errors import JiayuanError, PermissionDenied
from jiayuan.core.memo import Memo
from jiayuan.core.usage import touch_last_used
from jiayuan.open311.locate import locate_grid
from jiayuan.open311.models import ApiKey, Datatype, ServiceAttribute, hash_key
from jiayuan.open311.selectors import service_for_intake, service_notice
from jiayuan.regions.models import Building, Region
from jiayuan.tickets.models import Submission as QueuedSubmission
from jiayuan.tickets.models import Ticket
from jiayuan.tickets.queue import submission_create
from jiayuan.tickets.services import ticket_create

KEY_PREFIX = "jy311_"
VISIBLE_PREFIX = 10
MAX_DESCRIPTION = 4000  # the specification's limit
MAX_STRING = 500
DEMO_KEY_NAME = "demo"

_ATTRIBUTE = re.compile(r"^attribute\[([^\[\]]+)\](\[\])?$")


# --- API keys ----------------------------------------------------------------------------------


def _new_raw_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def apikey_set_secret(key: ApiKey) -> str:
    """Give an (unsaved or existing) key a fresh secret; returns the raw key. The caller saves."""
    raw = _new_raw_key()
    key.prefix = raw[:VISIBLE_PREFIX]
    key.key_hash = hash_key(raw)
    return raw


def apikey_create(
    *, name: str, channel_label: str = "", queued: bool = False
) -> tuple[ApiKey, str]:
    """A new key: returns the row and the raw key, which is shown once and never stored."""
    name = name.strip()
    if not name:
        raise JiayuanError("请填写密钥名称", code="required", field="name")
    if ApiKey.objects.filter(name=name).exists():
        raise JiayuanError(f"已有名为“{name}”的密钥", code="duplicate", field="name")
    key = ApiKey(name=name, channel_label=channel_label.strip(), queued=queued)
    raw = apikey_set_secret(key)
    try:
        with transaction.atomic():
            key.save(force_insert=True)
    except IntegrityError as exc:
        raise JiayuanError(f"已有名为“{name}”的密钥", code="duplicate", field="name") from exc
    return key, raw


def apikey_rotate(*, name: str, channel_label: str = "") -> tuple[ApiKey, str]:
    """Create the named key, or give an existing one a new secret (the old one stops working)."""
    with transaction.atomic():
        key = ApiKey.objects.select_for_update().filter(name=name).first()
        if key is None:
            return apikey_create(name=name, channel_label=channel_label)
        raw = apikey_set_secret(key)
        key.is_active = True
        key.save(update_fields=["prefix", "key_hash", "is_active"])
    return key, raw


def apikey_authenticate(*, raw: str, now: dt.datetime | None = None) -> ApiKey:
    """The active key behind ``raw``, or PermissionDenied (the same for missing and unknown)."""
    raw = (raw or "").strip()
    key = None
    if raw.startswith(KEY_PREFIX):
        digest = hash_key(raw)
        key = _keys.get(digest, lambda: _active_key(digest))
    if key is None:
        raise PermissionDenied("api_key 无效或缺失 (invalid or missing api_key)", field="api_key")
    key.last_used_at = touch_last_used(ApiKey, key.pk, key.last_used_at, now or timezone.now())
    return key


# Active keys by hash, memoised per process: revoking or rotating a key in the admin or by command
# takes effect at once in that process and within ``max_age`` seconds in every other one (within
# a second with Redis). Unknown keys are not memoised, so nobody can fill the memo with guesses.
_keys: Memo[ApiKey | None] = Memo("open311-keys", max_age=30.0, watch=[ApiKey], check_every=1.0)


def _active_key(digest: str) -> ApiKey | None:
    return ApiKey.objects.filter(key_hash=digest, is_active=True).first()


# --- POST requests -----------------------------------------------------------------------------


@dataclass
class Submission:
    """The answer to a POST: the ticket and whether this call created it — or, for a queued
    key, the queued submission, answered with its token (GeoReport v2)."""

    ticket: Ticket | None
    created: bool
    account_id: str | None = None
    queued: QueuedSubmission | None = None

    def as_dict(self) -> dict[str, Any]:
        if self.ticket is None and self.queued is not None:
            if self.queued.ticket_id is not None:
                self.ticket = self.queued.ticket
            else:
                return {
                    "token": self.queued.token,
                    "service_notice": "已接收，正在受理；请用 token 查询工单编号。",
                    "account_id": self.account_id,
                }
        assert self.ticket is not None
        return {
            "service_request_id": self.ticket.number,
            "service_notice": service_notice(self.ticket),
            "account_id": self.account_id,
        }


@dataclass
class PostedRequest:
    """A GeoReport v2 POST, parsed from the form: plain fields and ``attribute[CODE]`` values."""

    fields: dict[str, str]
    attributes: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def from_form(cls, form: Mapping[str, Any]) -> PostedRequest:
        """``form`` is a QueryDict (``getlist``) or a plain mapping of str → str | list[str]."""
        fields: dict[str, str] = {}
        attributes: dict[str, list[str]] = {}
        for name in form:
            values = form.getlist(name) if hasattr(form, "getlist") else form[name]
            if isinstance(values, str):
                values = [values]
            match = _ATTRIBUTE.match(name)
            if match:
                attributes.setdefault(match.group(1), []).extend(str(v) for v in values)
            elif values:
                fields[name] = str(values[-1]).strip()
        return cls(fields=fields, attributes=attributes)

    def get(self, name: str) -> str:
        return self.fields.get(name, "")


def _float(value: str, name: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise JiayuanError(f"{name} 不是数字 ({name} is not a number)", field=name) from None
    if number != number or number in (float("inf"), float("-inf")):
        raise JiayuanError(f"{name} 不是数字 ({name} is not a number)", field=name)
    return number


def parse_w3c(value: str, name: str) -> dt.datetime:
    """A W3C datetime (2010-01-01T00:00:00Z, …+08:00, or a date). Without an offset, Beijing
    time is assumed. A '+' turned into a space by an unencoded query string is put back."""
    text = value.strip()
    text = re.sub(r"(T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?) (\d{2}:?\d{2})$", r"\1+\2", text)
    try:
        parsed = parse_datetime(text)
        if parsed is None:
            day = parse_date(text)
            if day is not None:
                parsed = dt.datetime.combine(day, dt.time())
    except ValueError:
        parsed = None
    if parsed is None:
        raise JiayuanError(
            f"{name} 不是 W3C 日期时间，如 2026-01-01T00:00:00+08:00 "
            f"({name} must be a W3C datetime)",
            field=name,
        )
    if timezone.is_naive(parsed):
        parsed = timezone.make_aware(parsed)
    return parsed


def clean_attributes(
    definitions: list[ServiceAttribute], posted: dict[str, list[str]]
) -> dict[str, Any]:
    """Check posted attribute values against the service definition; unknown codes are ignored
    (an older client may send what a newer definition dropped)."""
    cleaned: dict[str, Any] = {}
    for attr in definitions:
        if not attr.variable:
            continue
        values = [v.strip() for v in posted.get(attr.code, []) if v.strip()]
        if not values:
            if attr.required:
                raise JiayuanError(
                    f"缺少必填项 attribute[{attr.code}]（{attr.description}）"
                    f" (required attribute missing)",
                    field=f"attribute[{attr.code}]",
                )
            continue
        where = f"attribute[{attr.code}]"
        if attr.datatype == Datatype.MULTIVALUELIST:
            allowed = attr.value_keys()
            wrong = [v for v in values if v not in allowed]
            if wrong:
                raise JiayuanError(
                    f"{where} 的取值 {wrong[0]} 不在可选值中 (value not in the list)", field=where
                )
            cleaned[attr.code] = list(dict.fromkeys(values))
            continue
        if len(values) > 1:
            raise JiayuanError(f"{where} 只能有一个值 (only one value allowed)", field=where)
        value = values[0]
        if attr.datatype == Datatype.SINGLEVALUELIST:
            if value not in attr.value_keys():
                raise JiayuanError(
                    f"{where} 的取值 {value} 不在可选值中 (value not in the list)", field=where
                )
            cleaned[attr.code] = value
        elif attr.datatype == Datatype.NUMBER:
            _float(value, where)
            cleaned[attr.code] = value
        elif attr.datatype == Datatype.DATETIME:
            cleaned[attr.code] = parse_w3c(value, where).isoformat()
        elif attr.datatype == Datatype.STRING:
            if "\n" in value or len(value) > MAX_STRING:
                raise JiayuanError(
                    f"{where} 须为不超过{MAX_STRING}字的单行文本 (single line, max {MAX_STRING})",
                    field=where,
                )
            cleaned[attr.code] = value
        else:  # text
            if len(value) > MAX_DESCRIPTION:
                raise JiayuanError(
                    f"{where} 过长（最多{MAX_DESCRIPTION}字） (too long)", field=where
                )
            cleaned[attr.code] = value
    return cleaned


@dataclass
class _Location:
    lng: float | None = None
    lat: float | None = None
    address: str = ""
    building: Building | None = None
    grid: Region | None = None


def _location(posted: PostedRequest) -> _Location:
    """One of lat & long, address_string or address_id (a building code) is required."""
    lat_s, lng_s = posted.get("lat"), posted.get("long")
    address = posted.get("address_string")[:200]
    address_id = posted.get("address_id")
    loc = _Location(address=address)
    if lat_s or lng_s:
        if not (lat_s and lng_s):
            raise JiayuanError(
                "lat 与 long 须同时提供 (lat and long must both be sent)",
                field="lat" if not lat_s else "long",
            )
        loc.lat, loc.lng = _float(lat_s, "lat"), _float(lng_s, "long")
        if not -90 <= loc.lat <= 90:
            raise JiayuanError("lat 超出范围 (lat out of range)", field="lat")
        if not -180 <= loc.lng <= 180:
            raise JiayuanError("long 超出范围 (long out of range)", field="long")
    if address_id:
        loc.building = Building.objects.filter(code=address_id).select_related("grid").first()
        if loc.building is None:
            raise JiayuanError(
                f"address_id 不存在：{address_id} (address_id not found)", field="address_id"
            )
    elif loc.lat is not None and loc.lng is not None:
        loc.grid = locate_grid(loc.lng, loc.lat)
    if loc.lat is None and not address and loc.building is None:
        raise JiayuanError(
            "缺少位置：请提供 lat 和 long、address_string 或 address_id "
            "(location required: lat & long, address_string or address_id)",
            field="lat",
        )
    return loc


def _reporter_name(first: str, last: str) -> str:
    if not first or not last:
        return first or last
    if re.search(r"[A-Za-z]", first + last):
        return f"{first} {last}"
    return last + first  # 姓在前


def request_submit(*, key: ApiKey, posted: PostedRequest, idempotency_key: str = "") -> Submission:
    """POST requests: validate a GeoReport v2 submission and take it in as one ticket."""
    idempotency_key = idempotency_key.strip()
    if len(idempotency_key) > 100:
        raise JiayuanError(
            "Idempotency-Key 过长（最多100个字符） (Idempotency-Key too long)",
            field="Idempotency-Key",
        )
    scope = f"open311:{key.pk}"

    code = posted.get("service_code")
    if not code:
        raise JiayuanError("缺少 service_code (service_code required)", field="service_code")
    category, definitions = service_for_intake(code)
    attributes = clean_attributes(definitions, posted.attributes)
    loc = _location(posted)

    description = posted.get("description")
    if len(description) > MAX_DESCRIPTION:
        raise JiayuanError(
            f"description 过长（最多{MAX_DESCRIPTION}字） (description too long)",
            field="description",
        )
    media_url = posted.get("media_url")
    if media_url and (len(media_url) > 500 or not re.match(r"^https?://\S+$", media_url)):
        raise JiayuanError(
            "media_url 须为 http(s) 链接 (media_url must be a URL)", field="media_url"
        )
    phone = posted.get("phone")[:20]
    extra: dict[str, Any] = {"open311": {"api_key": key.name, "attributes": attributes}}
    for name in ("email", "device_id", "account_id"):
        if posted.get(name):
            extra["open311"][name] = posted.get(name)[:200]

    arguments: dict[str, Any] = dict(
        channel="open311",
        title="",
        description=description or f"{category.name}（未填写描述）",
        reporter_name=_reporter_name(posted.get("first_name"), posted.get("last_name")),
        reporter_phone=phone,
        anonymous=not phone,
        category=category,
        building=loc.building,
        grid=loc.grid,
        lng=loc.lng,
        lat=loc.lat,
        address=loc.address,
        idempotency_scope=scope if idempotency_key else "",
        idempotency_key=idempotency_key,
        actor_label=key.channel_label or f"Open311：{key.name}",
        attributes=extra,
        media_url=media_url,
    )
    account_id = posted.get("account_id") or None
    if key.queued:
        queued = submission_create(**arguments)
        return Submission(None, queued.created, account_id, queued=queued.submission)
    intake = ticket_create(**arguments)
    return Submission(intake.ticket, intake.created, account_id)

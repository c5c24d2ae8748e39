"""Pagination shared by every API list: ``{count, page, page_size, items}``."""

from __future__ import annotations

from typing import Any

from django.core.paginator import EmptyPage, Paginator
from django.db.models import QuerySet
from ninja import Schema

from jiayuan.core.errors import JiayuanError

MAX_PAGE_SIZE = 200


class PageIn(Schema):
    page: int = 1
    page_size: int = 50


def paginate(queryset: QuerySet[Any], paging: PageIn) -> tuple[list[Any], dict[str, int]]:
    """One page of ``queryset`` and its meta; a bad page or size is a coded 400."""
    if paging.page < 1:
        raise JiayuanError("页码必须从 1 开始", code="invalid_page", field="page")
    if not 1 <= paging.page_size <= MAX_PAGE_SIZE:
        raise JiayuanError(
            f"每页条数应在 1 到 {MAX_PAGE_SIZE} 之间", code="invalid_page_size", field="page_size"
        )
    paginator = Paginator(queryset, paging.page_size)
    meta = {"count": paginator.count, "page": paging.page, "page_size": paging.page_size}
    try:
        page = paginator.page(paging.page)
    except EmptyPage:
        return [], meta
    return list(page.object_list), meta

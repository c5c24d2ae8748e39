"""Classifier feedback (分类反馈): every confirmation or correction of a suggested category is
kept as labelled data, which ``jiayuan route retrain`` adds to the original training data."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import transaction

from jiayuan.core.errors import JiayuanError
from jiayuan.routing.models import RoutingFeedback
from jiayuan.tickets.models import Category


def _top(suggestions: Sequence[Any]) -> str:
    if not suggestions:
        return ""
    first = suggestions[0]
    return str(first["category"] if isinstance(first, dict) else first.category)


def record_feedback(
    *,
    category: str,
    suggestions: Sequence[Any] = (),
    model_version: str = "",
    user: Any = None,
    ticket: Any = None,
    title: str | None = None,
    body: str | None = None,
) -> RoutingFeedback:
    """Keep a person's decision: ``category`` (a first-level category name) chosen for a message
    the classifier suggested ``suggestions`` for (``Suggestion``s or ``{"category", …}`` dicts,
    most probable first; empty when it had none). Title and body default to the ticket's."""
    if not Category.objects.filter(parent__isnull=True, name=category).exists():
        raise JiayuanError(f"“{category}”不是一级分类", code="unknown_category", field="category")
    if title is None:
        title = ticket.title if ticket is not None else ""
    if body is None:
        body = ticket.description if ticket is not None else ""
    with transaction.atomic():
        return RoutingFeedback.objects.create(
            title=(title or "")[:300],
            body=body or "",
            suggested_category=_top(suggestions),
            chosen_category=category,
            model_version=model_version or "",
            created_by=user,
            ticket=ticket,
        )

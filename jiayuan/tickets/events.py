"""Ticket events (流转记录): the one way an event is written, and the hash chain over them.

Each event's ``hash`` is SHA-256 over the previous event's hash and this event's canonical
content (ticket, seq, time, actor, action, states, levels, regions, department, note, data).
Editing or deleting any stored event breaks the chain from that point; ``verify_chain`` finds
the first broken link.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from jiayuan.tickets.models import Ticket, TicketEvent

GENESIS = "0" * 64


def event_digest(*, prev_hash: str, content: dict[str, Any]) -> str:
    payload = json.dumps(content, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256((prev_hash + "|" + payload).encode("utf-8")).hexdigest()


def event_content(event: TicketEvent) -> dict[str, Any]:
    return {
        "ticket": event.ticket_id,
        "seq": event.seq,
        "at": event.at.astimezone(dt.UTC).isoformat(timespec="microseconds"),
        "actor": event.actor_id,
        "post": event.post_id,
        "actor_label": event.actor_label,
        "action": event.action,
        "from_state": event.from_state,
        "to_state": event.to_state,
        "from_level": event.from_level,
        "to_level": event.to_level,
        "from_region": event.from_region_id,
        "to_region": event.to_region_id,
        "department": event.department_id,
        "note": event.note,
        "data": event.data,
    }


def build_event(*, ticket: Ticket, seq: int, prev_hash: str, **fields: Any) -> TicketEvent:
    """An unsaved event with its hash computed (the caller saves it inside its transaction)."""
    event = TicketEvent(ticket=ticket, seq=seq, prev_hash=prev_hash, **fields)
    event.hash = event_digest(prev_hash=prev_hash, content=event_content(event))
    return event


@dataclass(frozen=True)
class BrokenLink:
    ticket_id: int
    number: str
    seq: int
    reason: str


def verify_chain(ticket: Ticket) -> BrokenLink | None:
    """The first broken link of one ticket's chain, or None when it is intact."""
    prev = GENESIS
    expected_seq = 1
    last: TicketEvent | None = None
    # .all() uses prefetch_related("events") when the caller did it (one query per batch).
    for event in sorted(ticket.events.all(), key=lambda e: e.seq):
        if event.seq != expected_seq:
            return BrokenLink(ticket.pk, ticket.number, expected_seq, "流转记录缺失（序号不连续）")
        if event.prev_hash != prev:
            return BrokenLink(ticket.pk, ticket.number, event.seq, "前序哈希不匹配")
        if event_digest(prev_hash=prev, content=event_content(event)) != event.hash:
            return BrokenLink(ticket.pk, ticket.number, event.seq, "记录内容被修改")
        prev = event.hash
        expected_seq += 1
        last = event
    if last is None:
        return BrokenLink(ticket.pk, ticket.number, 1, "没有流转记录")
    if ticket.last_hash != last.hash or ticket.version != last.seq:
        return BrokenLink(ticket.pk, ticket.number, last.seq, "工单与最后一条记录不一致")
    if ticket.state != last.to_state:
        return BrokenLink(ticket.pk, ticket.number, last.seq, "工单状态与流转记录不一致")
    return None

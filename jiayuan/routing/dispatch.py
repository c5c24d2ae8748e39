"""The routing decision (精准派单) that intake applies to every new ticket.

``decide`` runs before the intake transaction and reads only cached indexes plus two or three
indexed rows: locate (``locate.py``), classify the text (the classifier's ``classify`` and
``should_auto_route``), resolve the dispatch rule (``rules.py``). Then:

- located, and the category either given by the channel or confidently classified → routed
  automatically by the matching rule (with no rule: to the grid, as intake always did);
- located, no category given and no classifier available (no model built yet) → the grid, as
  before routing existed;
- otherwise (not located, or the classifier is unsure) → the triage queue (待分拨) at the
  district, where a dispatcher confirms or corrects the suggestions.

``record`` writes the ``TicketRouting`` row (and, for a department rule, the assignments) inside
intake's transaction; ``Decision.event_data`` goes into the submit event, model version included.
"""

from __future__ import annotations

import importlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from jiayuan.core.memo import Memo
from jiayuan.regions.choices import Level as RegionLevel
from jiayuan.regions.models import Building, Household, Region
from jiayuan.routing import tree
from jiayuan.routing.locate import Location, locate
from jiayuan.routing.models_dispatch import HandlerLevel, TicketRouting
from jiayuan.routing.rules import ResolvedRule, Rules, active_rules, rule_for
from jiayuan.routing.tree import RegionTree
from jiayuan.tickets.choices import AssignmentRole, Level, State
from jiayuan.tickets.models import Category, Ticket, TicketAssignment

logger = logging.getLogger(__name__)

CategorySource = str  # "given" | "model" | ""


# --- the classifier, looked up lazily (its module may not be loaded, or no model built yet) ------

_override: Any = None


def use_classifier(classifier: Any) -> None:
    """Route with this object (``classify``, ``should_auto_route``, ``model_version``) instead of
    ``jiayuan.routing.classifier``; ``None`` restores it. For tests and benchmarks."""
    global _override
    _override = classifier


def _classifier() -> Any:
    if _override is not None:
        return _override
    try:
        return importlib.import_module("jiayuan.routing.classifier")
    except ImportError:
        return None


@dataclass(frozen=True)
class Classification:
    suggestions: list[dict[str, Any]]
    confident: bool
    model_version: str

    @property
    def top(self) -> str:
        return self.suggestions[0]["category"] if self.suggestions else ""


NO_CLASSIFICATION = Classification([], False, "")
MISSING_RECHECK = 60.0
_missing: dict[str, float] = {"until": 0.0}


def forget_missing_model() -> None:
    """Look for the model again at the next ticket (after training it; tests)."""
    _missing["until"] = 0.0


def classify(title: str, body: str) -> Classification | None:
    """The classifier's top three and whether it is sure enough to route alone; None when no
    classifier can answer (module or model missing, or it failed — intake never fails for it)."""
    clf = _classifier()
    if clf is None:
        return None
    if time.monotonic() < _missing["until"]:
        return None  # no model a moment ago: look again after MISSING_RECHECK seconds
    try:
        found = clf.classify(title, body)
        confident = bool(clf.should_auto_route(found))
        version = str(clf.model_version())
    except Exception as exc:  # a missing or broken model must not lose a resident's request
        from jiayuan.routing.training import ModelMissing

        if isinstance(exc, ModelMissing):
            # Expected before `jiayuan route train`: say so once a while, without a traceback
            # on every ticket (which cost intake more than the ticket itself).
            _missing["until"] = time.monotonic() + MISSING_RECHECK
            logger.warning("routing: %s; routing without the classifier", exc)
        else:
            logger.warning("routing: classifier failed, routing without it", exc_info=True)
        return None
    suggestions = [
        {"category": s.category, "probability": round(float(s.probability), 4)} for s in found[:3]
    ]
    return Classification(suggestions, confident and bool(suggestions), version)


def _proba(pairs: Sequence[tuple[str, str]]) -> Any:
    """The model's probabilities for some messages (run in a worker process of ``decide_many``:
    the model was loaded before the fork; no database access here)."""
    return _classifier().current_model().predict_proba(list(pairs))


def classify_many(
    pairs: Sequence[tuple[str, str]], *, proba: Any = None
) -> list[Classification | None]:
    """``classify`` for many messages at once: one vectorised pass of the model (a batch import
    routes tens of thousands of tickets; one by one they would each pay the TF-IDF set-up).
    ``proba``: the probabilities already computed (by ``decide_many``'s worker processes)."""
    clf = _classifier()
    if clf is None:
        return [None] * len(pairs)
    if _override is not None or not hasattr(clf, "current_model"):
        return [classify(title, body) for title, body in pairs]
    try:
        model = clf.current_model()
        if proba is None:
            proba = model.predict_proba(list(pairs))
    except Exception:  # as in classify: intake goes on without the classifier
        logger.warning("routing: classifier unavailable, routing without it", exc_info=True)
        return [None] * len(pairs)
    version = str(model.version)
    labels = model.labels
    # Each row's three most probable, as the classifier's ``classify`` orders one message's.
    tops = np.argsort(proba, axis=1)[:, ::-1][:, :3]
    values = np.take_along_axis(proba, tops, axis=1).tolist()
    out: list[Classification | None] = []
    for top, probabilities in zip(tops.tolist(), values, strict=True):
        found = [
            clf.Suggestion(labels[i], round(p, 4)) for i, p in zip(top, probabilities, strict=True)
        ]
        suggestions = [{"category": s.category, "probability": s.probability} for s in found]
        out.append(Classification(suggestions, bool(clf.should_auto_route(found)), version))
    return out


# --- first-level categories by name (a handful of rows, read on every intake) --------------------


# Read on every intake; a handful of rows (see jiayuan.core.memo).
_categories: Memo[dict[str, Category]] = Memo(
    "routing-first-level-categories", max_age=300.0, watch=[Category]
)


def _drop_categories(**kwargs: Any) -> None:
    _categories.invalidate()


def _load_categories() -> dict[str, Category]:
    return {c.name: c for c in Category.objects.filter(parent__isnull=True, is_active=True)}


def first_level_categories() -> dict[str, Category]:
    return _categories.get("by-name", _load_categories)


def first_level_category(name: str) -> Category | None:
    return first_level_categories().get(name)


@dataclass(frozen=True)
class _Indexes:
    """What a decision reads besides the location, each from its per-process memo; a batch
    takes them once a chunk rather than once a ticket."""

    categories: dict[str, Category]
    rules: Rules
    tree: RegionTree


def _indexes() -> _Indexes:
    return _Indexes(first_level_categories(), active_rules(), tree.current())


# --- the decision -----------------------------------------------------------------------------


@dataclass
class Decision:
    location: Location
    category: Category | None
    category_source: CategorySource
    classification: Classification
    state: str
    owner: Region | None  # None: not located, the intake puts it at its root (city or district)
    level: str | None  # None: the owner's rung
    rule: ResolvedRule | None = None
    lead_id: int | None = None
    co_ids: tuple[int, ...] = field(default_factory=tuple)

    @property
    def grid(self) -> Region | None:
        return self.location.grid

    @property
    def auto(self) -> bool:
        return self.state != State.TRIAGE

    def dispatch_data(self) -> dict[str, Any]:
        """For a department rule, the departments as a dispatch event records them."""
        if self.lead_id is None:
            return {}
        return {"lead": self.lead_id, "co": list(self.co_ids)}

    def event_data(self) -> dict[str, Any]:
        """What the submit event records about the routing (the model version included)."""
        data: dict[str, Any] = {
            "method": self.location.method,
            "confidence": self.location.confidence,
            "model": self.classification.model_version,
            "auto": self.auto,
            "rule": self.rule.id if self.rule else None,
        }
        if self.classification.suggestions:
            data["top"] = self.classification.top
            data["p"] = self.classification.suggestions[0]["probability"]
        return data


def _drop_chains(**kwargs: Any) -> None:
    tree.invalidate()


def _chain(grid: Region, regions: RegionTree | None = None) -> dict[str, Region]:
    """The grid and its ancestors by level (from the per-process region tree: no query)."""
    return tree.chain(grid, regions)


def _nearest_first(chain: dict[str, Region]) -> list[Region]:
    return sorted(chain.values(), key=lambda r: r.depth, reverse=True)


def _triage_root(chain: dict[str, Region]) -> Region | None:
    return chain.get(RegionLevel.DISTRICT) or chain.get(RegionLevel.CITY)


def decide(
    *,
    title: str,
    description: str,
    category: Category | None = None,
    building: Building | None = None,
    household: Household | None = None,
    grid: Region | None = None,
    lng: float | None = None,
    lat: float | None = None,
    address: str = "",
    classifier: Callable[[str, str], Classification | None] | None = None,
) -> Decision:
    """Where a new ticket goes (see the module docstring). Reads, never writes."""
    location = locate(
        building=building, household=household, grid=grid, lng=lng, lat=lat, address=address
    )
    return _route(location, (classifier or classify)(title, description), category)


def _route(
    location: Location,
    found: Classification | None,
    category: Category | None,
    indexes: _Indexes | None = None,
) -> Decision:
    """The decision, once the ticket is located and its text classified."""
    read = indexes or _indexes()
    classification = found or NO_CLASSIFICATION
    source: CategorySource = "given" if category is not None else ""
    if category is None and found is not None and found.confident:
        category = read.categories.get(found.top)
        source = "model" if category is not None else ""
    if location.grid is None:
        return Decision(location, category, source, classification, State.TRIAGE, None, None)
    chain = _chain(location.grid, read.tree)
    # Unsure: the classifier answered, without confidence, for a ticket with no given category.
    if found is not None and source == "":
        return Decision(location, None, "", classification, State.TRIAGE, _triage_root(chain), None)
    rule = rule_for(
        category_id=category.pk if category is not None else None,
        category_parent_id=category.parent_id if category is not None else None,
        region_ids=[r.pk for r in _nearest_first(chain)],
        rules=read.rules,
    )
    return _apply(location, category, source, classification, chain, rule)


def _apply(
    location: Location,
    category: Category | None,
    source: CategorySource,
    classification: Classification,
    chain: dict[str, Region],
    rule: ResolvedRule | None,
) -> Decision:
    grid = location.grid
    assert grid is not None
    if rule is None or rule.level == HandlerLevel.GRID:
        return Decision(
            location, category, source, classification, State.ASSIGNED, grid, None, rule
        )
    if rule.level == HandlerLevel.DEPARTMENT:
        origin = _triage_root(chain)
        if origin is not None and rule.lead_id is not None:
            return Decision(
                location,
                category,
                source,
                classification,
                State.DISPATCHED,
                origin,
                Level.DEPARTMENT,
                rule,
                rule.lead_id,
                rule.co_ids,
            )
    else:
        rung = RegionLevel.COMMUNITY if rule.level == HandlerLevel.COMMUNITY else RegionLevel.STREET
        owner = chain.get(rung)
        if owner is not None:
            return Decision(
                location, category, source, classification, State.ASSIGNED, owner, None, rule
            )
    # The rule names a rung this place lacks: the grid, as without a rule.
    return Decision(location, category, source, classification, State.ASSIGNED, grid, None, rule)


_WHERE = ("building", "household", "grid", "lng", "lat", "address")


def decide_many(
    items: Sequence[dict[str, Any]], *, chunk: int = 2000, processes: int = 1
) -> list[Decision]:
    """``decide`` for a batch (a hotline import, a day's backlog): each item holds ``decide``'s
    keyword arguments. The texts are classified ``chunk`` at a time in one vectorised pass each
    (one by one, each message would pay the model's set-up); with ``processes`` > 1, by that
    many forked worker processes while this one locates the tickets, so the two overlap."""
    for item in items:
        unknown = set(item) - {"title", "description", "category", *_WHERE}
        if unknown:
            raise TypeError(f"decide_many: unexpected keys {sorted(unknown)}")
    chunks = [items[i : i + chunk] for i in range(0, len(items), chunk)]
    texts = [[(i.get("title", ""), i.get("description", "")) for i in part] for part in chunks]
    probas: list[Any] = [None] * len(chunks)
    clf = _classifier()
    pool, pending = None, None
    if processes > 1 and chunks and _override is None and hasattr(clf, "current_model"):
        import multiprocessing

        try:
            clf.current_model()  # loaded once, shared with the workers by the fork
            pool = multiprocessing.get_context("fork").Pool(processes)
            pending = pool.map_async(_proba, texts)
        except Exception:
            logger.warning("routing: parallel classification failed", exc_info=True)
    try:
        locations = [locate(**{k: v for k, v in item.items() if k in _WHERE}) for item in items]
        if pending is not None:
            try:
                probas = pending.get()
            except Exception:  # classified here instead, by classify_many
                logger.warning("routing: parallel classification failed", exc_info=True)
    finally:
        if pool is not None:
            pool.terminate()
            pool.join()
    decisions: list[Decision] = []
    for part, pairs, proba in zip(chunks, texts, probas, strict=True):
        found = classify_many(pairs, proba=proba)
        indexes = _indexes()
        for item, answer in zip(part, found, strict=True):
            location = locations[len(decisions)]
            decisions.append(_route(location, answer, item.get("category"), indexes))
    return decisions


def record(*, ticket: Ticket, decision: Decision) -> None:
    """Inside intake's transaction: the routing record, and a department rule's assignments."""
    TicketRouting.objects.create(
        ticket=ticket,
        locate_method=decision.location.method,
        locate_confidence=decision.location.confidence,
        estate_id=decision.location.estate_id,
        suggestions=decision.classification.suggestions,
        category_source=decision.category_source,
        model_version=decision.classification.model_version,
        auto_routed=decision.auto,
        rule_id=decision.rule.id if decision.rule else None,
        decided_at=ticket.created_at,
    )
    if decision.lead_id is not None and decision.owner is not None:
        TicketAssignment.objects.bulk_create(
            [
                TicketAssignment(
                    ticket=ticket,
                    department_id=dept_id,
                    role=role,
                    dispatched_from=decision.owner,
                    created_at=ticket.created_at,
                )
                for dept_id, role in [
                    (decision.lead_id, AssignmentRole.LEAD),
                    *[(d, AssignmentRole.CO) for d in decision.co_ids],
                ]
            ]
        )


# --- the human decision: the triage queue ---------------------------------------------------------


def _record_feedback(**kwargs: Any) -> None:
    from jiayuan.routing.feedback import record_feedback

    record_feedback(**kwargs)


def ticket_triage_decide(
    *, user: Any, ticket: Ticket, category: Category, region: Region, note: str = ""
) -> None:
    """分拨 from the triage queue: assign the ticket to ``region`` with ``category`` (a suggestion
    confirmed, or a correction) and keep the decision as labelled data for retraining."""
    from django.db import transaction

    from jiayuan.tickets.workflow import transition

    routing = TicketRouting.objects.filter(ticket=ticket).first()
    suggestions = routing.suggestions if routing is not None else []
    top = category.parent if category.parent_id and category.parent else category
    with transaction.atomic():
        transition(ticket, "assign", actor=user, region=region, category=category, note=note)
        _record_feedback(
            ticket=ticket,
            category=top.name,
            user=user,
            suggestions=suggestions,
            model_version=routing.model_version if routing is not None else "",
        )

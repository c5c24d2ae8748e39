"""In Debian's chromium: the command centre opens the city dashboard (数据看板), drills down to a
grid by the ranking and by clicking the map, and opens the big screen (指挥中心大屏), which
refreshes itself. Screenshots go to test-artifacts/screenshots/dashboard-*.png.
"""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

import pytest

from tests.browser.conftest import PASSWORD, SHOTS

pytestmark = pytest.mark.browser


def _rect(lng0: float, lng1: float, lat0: float = 37.54, lat1: float = 37.55) -> dict[str, Any]:
    return {
        "type": "Polygon",
        "coordinates": [[[lng0, lat0], [lng1, lat0], [lng1, lat1], [lng0, lat1], [lng0, lat0]]],
    }


def _history(world: Any) -> None:
    """Sixty tickets over the last 30 days, most answered in the grid, some called up, rated."""
    from django.utils import timezone

    from jiayuan.regions.models import Region
    from jiayuan.tickets.models import Category
    from jiayuan.tickets.services import ticket_create
    from jiayuan.tickets.workflow import transition

    # Boundaries for the nodes above the grids, so that the map can be clicked at every level.
    for key, box in {
        "city": (121.40, 121.44),
        "district": (121.40, 121.44),
        "street_a": (121.40, 121.43),
        "street_b": (121.43, 121.44),
        "comm_a1": (121.40, 121.42),
        "comm_a2": (121.42, 121.43),
        "comm_b1": (121.43, 121.44),
    }.items():
        Region.objects.filter(pk=world.r(key).pk).update(boundary=_rect(*box))
    rng = random.Random(6)
    categories = list(Category.objects.filter(parent__isnull=False).order_by("code")[:8])
    buildings = ["a1_1", "a1_1b", "a1_2", "a2_1", "b1_1"]
    admin, gw = world.users["admin"], world.users["grid_worker"]
    now = timezone.now()
    for i in range(60):
        created = now - dt.timedelta(days=rng.uniform(0.2, 29.5))
        ticket = ticket_create(
            channel=rng.choice(["qr", "web", "hotline", "patrol"]),
            title=f"诉求{i}",
            description="楼道灯坏了，晚上看不见台阶",
            building=world.buildings[rng.choice(buildings)],
            reporter_phone="13900000001",
            category=rng.choice(categories),
            created_at=created,
        ).ticket
        if rng.random() < 0.8 and created < now - dt.timedelta(hours=12):
            actor = gw if ticket.grid_id == world.r("grid_a1_1").pk else admin
            transition(ticket, "accept", actor=actor, now=created + dt.timedelta(hours=1))
            transition(
                ticket,
                "resolve",
                actor=actor,
                now=created + dt.timedelta(hours=rng.uniform(2, 10)),
                result="已处理",
            )
            if rng.random() < 0.7:
                transition(
                    ticket,
                    "rate",
                    as_reporter=True,
                    now=created + dt.timedelta(hours=11),
                    rating=rng.choice(["satisfied", "satisfied", "basic", "unsatisfied"]),
                )


def test_command_centre_drills_from_the_city_to_a_grid_and_opens_the_big_screen(
    live_server: Any, transactional_db: Any, browser: Any
) -> None:
    from jiayuan.core.testing import build_world
    from jiayuan.stats.services import stats_update

    world = build_world()
    _history(world)
    stats_update()

    SHOTS.mkdir(parents=True, exist_ok=True)
    base = live_server.url
    external: list[str] = []
    ctx = browser.new_context(viewport={"width": 1366, "height": 900}, locale="zh-CN")
    page = ctx.new_page()
    page.on(
        "request",
        lambda req: (
            external.append(req.url)
            if not req.url.startswith((base, "data:", "about:", "blob:"))
            else None
        ),
    )
    page.goto(f"{base}/login/")
    page.fill("input[name=username]", "command_center")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/")

    # The city dashboard from the menu.
    page.click("nav.nav a:has-text('数据看板')")
    page.wait_for_url(f"{base}/stats/region/{world.r('city').pk}/")
    page.wait_for_selector("#chart-series[data-ready='1']")
    page.wait_for_selector("#stats-map[data-loaded='1']")
    assert page.locator("#measures [data-measure=received] b").text_content() == "60"
    page.screenshot(path=str(SHOTS / "dashboard-01-city.png"), full_page=True)

    # City → district by clicking the map; district → street → community by the ranking.
    page.click(f"path.region-{world.r('district').pk}")
    page.wait_for_url(f"{base}/stats/region/{world.r('district').pk}/")
    page.wait_for_selector("#chart-series[data-ready='1']")
    page.wait_for_selector("#stats-map[data-loaded='2']")
    page.screenshot(path=str(SHOTS / "dashboard-02-district.png"), full_page=True)
    page.click(f"#child-table tr[data-region='{world.r('street_a').pk}'] a.drill")
    page.wait_for_url(f"{base}/stats/region/{world.r('street_a').pk}/")
    page.click(f"#child-table tr[data-region='{world.r('comm_a1').pk}'] a.drill")
    page.wait_for_url(f"{base}/stats/region/{world.r('comm_a1').pk}/")
    # Colour by 超期率, then community → grid by clicking the map.
    page.wait_for_selector("#stats-map[data-loaded='2']")
    page.select_option("#map-metric", "overdue_rate")
    page.screenshot(path=str(SHOTS / "dashboard-03-community.png"), full_page=True)
    grid = world.r("grid_a1_1")
    page.click(f"path.region-{grid.pk}")
    page.wait_for_url(f"{base}/stats/region/{grid.pk}/")
    title = page.text_content("#dashboard-title") or ""
    assert "友谊街社区第一网格" in title
    crumbs = page.text_content("nav.crumbs") or ""
    assert "烟台市" in crumbs and "友谊街社区" in crumbs
    page.screenshot(path=str(SHOTS / "dashboard-04-grid.png"), full_page=True)

    # A filter: the last 7 days, noise only (the form keeps its choices).
    page.check("input[name=period][value='7']")
    page.click("#stats-filters button[type=submit]")
    page.wait_for_url("**period=7**")
    assert page.locator("input[name=period][value='7']").is_checked()

    # The big screen refreshes itself without reloading the page.
    page.goto(f"{base}/stats/screen/")
    page.wait_for_selector("#wall[data-refreshes='1']")
    page.wait_for_selector("#screen-map[data-loaded='1']")
    assert page.text_content("#open-now") == str(_open_count())
    assert page.locator("#ladder li").count() == 5
    page.evaluate("window.__marker = 1")
    page.wait_for_timeout(300)
    page.screenshot(path=str(SHOTS / "dashboard-05-big-screen.png"))
    assert page.evaluate("window.__marker") == 1  # same document: nothing reloaded
    ctx.close()
    assert external == []


def _open_count() -> int:
    from jiayuan.tickets.choices import OPEN_STATES
    from jiayuan.tickets.models import Ticket

    return Ticket.objects.filter(state__in=OPEN_STATES).count()

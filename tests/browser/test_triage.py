"""In Debian's chromium: a dispatcher confirms a triage suggestion with one click (智能分拨), and
the grid map shows the hot-spot layer. Screenshots go to test-artifacts/screenshots/triage-*.png.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.conftest import PASSWORD, SHOTS

pytestmark = pytest.mark.browser


def test_dispatcher_confirms_a_suggestion_in_one_click(
    live_server: Any, transactional_db: Any, browser: Any, monkeypatch: Any
) -> None:
    from jiayuan.core.testing import build_world
    from jiayuan.routing import dispatch
    from jiayuan.routing.hotspots import hot_spots_raise
    from jiayuan.routing.tests.conftest import FakeClassifier
    from jiayuan.tickets.models import Category, Ticket
    from jiayuan.tickets.services import ticket_create

    world = build_world()
    fake = FakeClassifier()
    fake.answer = [("环境保护", 0.62), ("城乡建设", 0.25), ("卫生计生", 0.07)]
    dispatch.use_classifier(fake)
    feedback: list[dict[str, Any]] = []
    monkeypatch.setattr(dispatch, "_record_feedback", lambda **kw: feedback.append(kw))
    try:
        ticket = ticket_create(
            channel="web",
            title="楼下烧烤店油烟扰民",
            description="每天晚上烧烤店油烟直排，楼上住户窗户都不敢开",
            building=world.buildings["a1_1"],
            reporter_phone="13900000006",
        ).ticket
        assert ticket.state == "triage"
        for i in range(5):
            ticket_create(
                channel="web",
                title=f"夜间施工噪音{i}",
                description="工地夜间施工噪音大",
                building=world.buildings["a2_1"],
                category=Category.objects.get(code="noise"),
                reporter_phone="13900000007",
            )
        hot_spots_raise()
    finally:
        dispatch.use_classifier(None)

    SHOTS.mkdir(parents=True, exist_ok=True)
    base = live_server.url
    external: list[str] = []
    ctx = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
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
    page.click("nav.nav a:has-text('分拨')")
    page.wait_for_url(f"{base}/routing/triage/")
    row = page.locator(f"#row-{ticket.number}")
    top = row.locator("button[data-suggestion='1']")
    assert (top.text_content() or "").strip() == "确认：环境保护62%"
    assert row.locator(f"select[name=region] option[value='{world.r('grid_a1_1').pk}']").evaluate(
        "o => o.selected"
    )
    page.screenshot(path=str(SHOTS / "triage-01-queue.png"), full_page=True)
    top.click()
    page.wait_for_selector(f"#row-{ticket.number} [data-done]")
    assert "已分拨至友谊街社区第一网格（环境保护）" in (
        page.locator(f"#row-{ticket.number}").text_content() or ""
    )
    page.screenshot(path=str(SHOTS / "triage-02-confirmed.png"), full_page=True)
    ticket = Ticket.objects.select_related("category").get(pk=ticket.pk)
    assert (ticket.state, ticket.owner_region_id, ticket.category.name) == (
        "assigned",
        world.r("grid_a1_1").pk,
        "环境保护",
    )
    assert [(f["category"], f["model_version"]) for f in feedback] == [("环境保护", "fake-1")]

    page.goto(f"{base}/map/")
    page.wait_for_selector("#map[data-hotspots='1']")
    assert page.locator("path.hotspot").count() == 1
    page.screenshot(path=str(SHOTS / "triage-03-hotspot-map.png"), full_page=True)
    ctx.close()
    assert external == []

"""End to end in Debian's chromium: a grid worker logs in, opens the grid map, clicks a grid,
reads its card, opens the building board (一牌四公开) with its QR code, and the public page
behind that QR code renders on a phone-sized screen. Screenshots go to test-artifacts/."""

from __future__ import annotations

import pytest

from tests.browser.conftest import PASSWORD, SHOTS

# Playwright's sync API runs an event loop in this thread; Django's ORM refuses to run inside
# one unless told that this is deliberate (it is: the test drives the browser, not the ORM).


pytestmark = pytest.mark.browser


def test_grid_worker_map_card_board_and_public_page(transactional_db, live_server, browser):
    from django.db import connections

    from jiayuan.core.testing import build_world
    from jiayuan.staff.choices import Role

    world = build_world()
    gw = world.users["grid_worker"]
    gw.last_name, gw.first_name = "王", "网格"  # shown family name first: 王网格
    gw.save(update_fields=["last_name", "first_name"])
    gw.posts.filter(role=Role.GRID_WORKER).update(work_phone="0535-6661234")
    grid = world.r("grid_a1_1")
    board_building = world.buildings["a1_1"]
    # With Playwright's loop running, the ORM calls above got a connection of their own that
    # pytest-django does not know about; close it, or PostgreSQL cannot drop the test database.
    connections.close_all()
    SHOTS.mkdir(parents=True, exist_ok=True)

    context = browser.new_context(viewport={"width": 1280, "height": 860}, locale="zh-CN")
    page = context.new_page()
    external: list[str] = []
    page.on(
        "request",
        lambda req: (
            external.append(req.url)
            if not req.url.startswith((live_server.url, "data:", "about:"))
            else None
        ),
    )

    # Log in through the form.
    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", "grid_worker")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")
    assert "工作台" in page.text_content("h1")
    page.screenshot(path=str(SHOTS / "01-home.png"), full_page=True)

    # The map draws the grid worker's one grid.
    page.goto(f"{live_server.url}/map/")
    page.wait_for_selector("path.grid-shape", timeout=15000)
    assert page.locator("path.grid-shape").count() == 1
    assert page.locator(f"path.grid-{grid.pk}").count() == 1
    page.wait_for_function("document.getElementById('map').dataset.loaded === '1'")
    page.wait_for_timeout(400)  # let chromium finish painting the SVG before the screenshot
    page.screenshot(path=str(SHOTS / "02-map.png"))

    # Click it: the card comes in through htmx.
    page.locator(f"path.grid-{grid.pk}").click()
    page.wait_for_selector(f"#grid-card .grid-card[data-grid-id='{grid.pk}']", timeout=10000)
    card = page.text_content("#grid-card")
    assert card is not None
    assert "友谊街社区第一网格" in card and "王网格" in card and "0535-6661234" in card
    page.wait_for_timeout(400)
    page.screenshot(path=str(SHOTS / "03-map-card.png"))

    # Open the building board from the card.
    page.click(f"#grid-card a[href='/buildings/{board_building.pk}/board/']")
    page.wait_for_selector("#board-qr svg", timeout=10000)
    assert page.locator("#board-qr svg path").count() >= 1
    assert "一牌四公开" in (page.text_content(".board-head h1") or "")
    page.screenshot(path=str(SHOTS / "04-board.png"), full_page=True)
    page.emulate_media(media="print")
    assert page.locator(".topbar").is_hidden()
    page.screenshot(path=str(SHOTS / "05-board-print.png"), full_page=True)
    page.emulate_media(media="screen")

    # The resident list on a phone: masked numbers, no horizontal page overflow.
    phone = browser.new_context(
        viewport={"width": 375, "height": 740}, device_scale_factor=2, locale="zh-CN"
    )
    ppage = phone.new_page()
    ppage.goto(f"{live_server.url}/b/{board_building.qr_token}/")
    assert "您的网格员" in (ppage.text_content("main") or "")
    assert "王网格" in (ppage.text_content("main") or "")
    width = ppage.evaluate("document.documentElement.scrollWidth")
    assert width <= 375
    ppage.screenshot(path=str(SHOTS / "06-public-phone.png"), full_page=True)
    phone.close()

    page.set_viewport_size({"width": 375, "height": 740})
    page.goto(f"{live_server.url}/residents/")
    page.wait_for_selector("table.list")
    assert "*" in (page.text_content("table.list tbody") or "")
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    page.screenshot(path=str(SHOTS / "07-residents-phone.png"), full_page=True)

    # htmx filter: typing a name narrows the table without a full reload.
    page.fill("input[name=q]", "居民")
    page.click("form.filters button[type=submit]")
    page.wait_for_url("**/residents/?q=*")
    assert "共" in (page.text_content(".results-head") or "")

    context.close()
    assert external == []

"""End to end in Debian's chromium: one ticket up the ladder (下呼上应) and back.

A resident scans the building's QR code and reports on a phone; the grid worker accepts and
calls up; the community secretary responds and calls up; the street officer responds and
dispatches to a 主办 and a 协办 department; both departments accept and report; the resident
follows the ticket by number + phone and rates it 满意. Screenshots of every step go to
test-artifacts/screenshots/ladder-NN-*.png.
"""

from __future__ import annotations

import io
from typing import Any

import pytest

from tests.browser.conftest import PASSWORD, SHOTS

PHONE = "13912345678"

pytestmark = pytest.mark.browser


def _photo() -> bytes:
    from PIL import Image

    img = Image.new("RGB", (320, 240), (120, 120, 110))
    exif = Image.Exif()
    exif[0x010F] = "PhoneCam"
    out = io.BytesIO()
    img.save(out, format="JPEG", exif=exif)
    return out.getvalue()


class Shots:
    def __init__(self) -> None:
        self.n = 0
        SHOTS.mkdir(parents=True, exist_ok=True)

    def __call__(self, page: Any, name: str) -> None:
        self.n += 1
        page.wait_for_timeout(150)
        page.screenshot(path=str(SHOTS / f"ladder-{self.n:02d}-{name}.png"), full_page=True)


def test_one_ticket_up_the_ladder_and_rated(live_server, transactional_db, browser):
    from jiayuan.core.testing import UserFactory, build_world
    from jiayuan.staff.choices import Role
    from jiayuan.staff.models import Department, Post
    from jiayuan.tickets.models import Ticket

    world = build_world()
    for name, (last, first) in {
        "grid_worker": ("王", "网格"),
        "community_secretary": ("李", "书记"),
        "street_officer": ("张", "街道"),
        "department_officer": ("赵", "住建"),
    }.items():
        u = world.users[name]
        u.last_name, u.first_name = last, first
        u.save(update_fields=["last_name", "first_name"])
    housing = world.departments["housing"]
    chengguan = Department.objects.create(
        code="zfcg", name="芝罘区综合行政执法局", short_name="城管", region=world.r("district")
    )
    cg_user: Any = UserFactory(username="chengguan", last_name="孙", first_name="城管")
    Post.objects.create(user=cg_user, role=Role.DEPARTMENT_OFFICER, department=chengguan)
    building = world.buildings["a1_1"]
    shot = Shots()
    base = live_server.url
    external: list[str] = []

    def watch(page: Any) -> Any:
        page.on(
            "request",
            lambda req: (
                external.append(req.url)
                if not req.url.startswith((base, "data:", "about:", "blob:"))
                else None
            ),
        )
        return page

    # 1. The resident scans the QR code on the building board: the public page, then the form.
    phone_ctx = browser.new_context(
        viewport={"width": 375, "height": 740}, device_scale_factor=2, locale="zh-CN"
    )
    resident = watch(phone_ctx.new_page())
    resident.goto(f"{base}/b/{building.qr_token}/")
    assert "您的网格员" in (resident.text_content("main") or "")
    shot(resident, "public-page")
    resident.goto(f"{base}/r/{building.qr_token}/")
    assert building.address in (resident.text_content("#report-building") or "")
    assert "友谊街社区第一网格" in (resident.text_content("#report-building") or "")
    assert resident.evaluate("document.documentElement.scrollWidth") <= 375
    resident.fill(
        "textarea[name=description]", "3单元楼道灯坏了一周，晚上看不见台阶，老人上下楼很危险。"
    )
    resident.select_option("select[name=category]", label="物业管理")
    resident.set_input_files(
        "input[name=photos]",
        files=[{"name": "IMG_2041.jpg", "mimeType": "image/jpeg", "buffer": _photo()}],
    )
    resident.fill("input[name=name]", "刘阿姨")
    resident.fill("input[name=phone]", PHONE)
    shot(resident, "report-form")
    resident.click("#report-form button[type=submit]")
    resident.wait_for_selector("#ticket-number")
    number = (resident.text_content("#ticket-number") or "").strip()
    ticket = Ticket.objects.get(number=number)
    assert (ticket.state, ticket.grid_id, ticket.attachments.count()) == (
        "assigned",
        world.r("grid_a1_1").pk,
        1,
    )
    shot(resident, "report-done")

    def staff(username: str) -> tuple[Any, Any]:
        ctx = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
        page = watch(ctx.new_page())
        page.goto(f"{base}/login/")
        page.fill("input[name=username]", username)
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{base}/")
        return ctx, page

    def open_from_inbox(page: Any, name: str) -> None:
        page.goto(f"{base}/tickets/")
        row = page.locator(f"#inbox-table tr[data-number='{number}']")
        assert row.count() == 1, f"{number} not in the 待签收 tab"
        shot(page, f"{name}-inbox")
        row.locator("a").first.click()
        page.wait_for_selector("#ticket-detail #timeline")

    def one_click(page: Any, action: str, label: str) -> None:
        page.click(f"#actions button[data-action={action}]")
        page.wait_for_selector(f"#flash:has-text('已{label}')")

    def with_form(page: Any, action: str, label: str, fill: dict[str, str]) -> None:
        box = page.locator(f"#actions details[data-action={action}]")
        box.locator("summary").click()
        for selector, value in fill.items():
            box.locator(selector).fill(value)
        box.locator(f"button[data-action={action}]").click()
        page.wait_for_selector(f"#flash:has-text('已{label}')")

    def state() -> str:
        ticket.refresh_from_db()
        return ticket.state

    # 2. The grid worker accepts (签收) and calls up (呼叫) to the community.
    ctx, page = staff("grid_worker")
    open_from_inbox(page, "grid-worker")
    assert "138****" not in (page.text_content("#reporter") or "")
    assert "139****5678" in (page.text_content("#reporter") or "")
    shot(page, "grid-worker-ticket")
    one_click(page, "accept", "签收")
    assert state() == "in_progress"
    with_form(page, "call_up", "呼叫上级", {"textarea[name=note]": "需协调物业更换整栋楼道灯线路"})
    assert (state(), ticket.owner_region_id) == ("called_up", world.r("comm_a1").pk)
    shot(page, "grid-worker-called-up")
    ctx.close()

    # 3. The community secretary responds (响应) and calls up to the street.
    ctx, page = staff("community_secretary")
    open_from_inbox(page, "community")
    one_click(page, "respond", "响应")
    with_form(
        page, "call_up", "呼叫上级", {"textarea[name=note]": "物业拒不维修，需街道协调住建部门"}
    )
    assert (state(), ticket.owner_region_id) == ("called_up", world.r("street_a").pk)
    shot(page, "community-called-up")
    ctx.close()

    # 4. The street officer responds and dispatches to 住建 (主办) and 城管 (协办).
    ctx, page = staff("street_officer")
    open_from_inbox(page, "street")
    one_click(page, "respond", "响应")
    box = page.locator("#actions details[data-action=dispatch]")
    box.locator("summary").click()
    box.locator("select[name=lead]").select_option(str(housing.pk))
    box.locator(f"input[name=co][value='{chengguan.pk}']").check()
    box.locator("textarea[name=note]").fill("请住建局牵头督促物业维修，城管清理楼道堆物")
    shot(page, "street-dispatch-form")
    box.locator("button[data-action=dispatch]").click()
    page.wait_for_selector("#flash:has-text('已派单')")
    assert state() == "dispatched"
    assert page.locator("#assignments tbody tr").count() == 2
    shot(page, "street-dispatched")
    ctx.close()

    # 5. Both departments accept (部门签收) and report (部门反馈).
    for username, name, result in [
        ("chengguan", "co-dept", "已清理楼道堆放杂物"),
        ("department_officer", "lead-dept", "已责成物业更换线路和灯具，楼道照明恢复"),
    ]:
        ctx, page = staff(username)
        open_from_inbox(page, name)
        one_click(page, "dept_accept", "部门签收")
        with_form(page, "dept_finish", "部门反馈", {"textarea[name=result]": result})
        shot(page, f"{name}-finished")
        ctx.close()
    assert (state(), ticket.result) == ("resolved", "已责成物业更换线路和灯具，楼道照明恢复")

    # 6. The resident follows the ticket by number + phone and rates it 满意.
    track_ctx = browser.new_context(
        viewport={"width": 375, "height": 740}, device_scale_factor=2, locale="zh-CN"
    )
    resident = watch(track_ctx.new_page())
    resident.goto(f"{base}/track/")
    resident.fill("input[name=number]", number)
    resident.fill("input[name=phone]", PHONE)
    resident.click("#track-form button[type=submit]")
    resident.wait_for_selector("#rate-form")
    assert (resident.text_content("#ticket-state") or "").strip() == "已办结待评价"
    timeline = resident.text_content("#public-timeline") or ""
    assert "呼叫上级" in timeline and "派单" in timeline
    assert "王网格" not in timeline and "张街道" not in timeline
    assert resident.evaluate("document.documentElement.scrollWidth") <= 375
    shot(resident, "track-resolved")
    resident.locator("#rate-form label:has(input[value=satisfied])").click()
    resident.fill("#rate-form textarea[name=comment]", "处理及时，谢谢！")
    resident.click("#rate-form button[type=submit]")
    resident.wait_for_selector("#ticket-state:has-text('已评价')")
    shot(resident, "rated")
    assert (state(), ticket.rating) == ("closed", "satisfied")
    actions = list(ticket.events.order_by("seq").values_list("action", flat=True))
    assert actions == [
        "submit",
        "accept",
        "call_up",
        "respond",
        "call_up",
        "respond",
        "dispatch",
        "dept_accept",
        "dept_finish",
        "dept_accept",
        "dept_finish",
        "rate",
    ]
    phone_ctx.close()
    track_ctx.close()
    assert external == []

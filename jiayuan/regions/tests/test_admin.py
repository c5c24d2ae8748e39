"""Admin: scoped lists, masked personal data, logged unmasked forms."""

from __future__ import annotations

from jiayuan.core.models import AccessLog
from jiayuan.regions.models import Resident


def _staff(world, name):
    user = world.users[name]
    user.is_staff = True
    user.is_superuser = False
    user.save()
    from django.contrib.auth.models import Permission

    user.user_permissions.set(Permission.objects.filter(content_type__app_label="regions"))
    return user


def test_admin_resident_list_is_scoped_and_masked(client, world):
    client.force_login(_staff(world, "community_worker"))
    html = client.get("/admin/regions/resident/").content.decode()
    mine = Resident.objects.filter(grid=world.r("grid_a2_1"))
    other = Resident.objects.filter(grid=world.r("grid_a1_1")).first()
    for r in mine:
        assert f"/admin/regions/resident/{r.pk}/change/" in html
        assert r.id_number not in html
        assert r.id_number[:6] + "********" + r.id_number[-4:] in html
    assert f"/admin/regions/resident/{other.pk}/change/" not in html


def test_admin_change_form_hides_raw_fields_without_the_right(client, world):
    client.force_login(_staff(world, "community_worker"))
    r = Resident.objects.filter(grid=world.r("grid_a2_1")).first()
    html = client.get(f"/admin/regions/resident/{r.pk}/change/").content.decode()
    assert r.id_number not in html and r.phone not in html
    assert AccessLog.objects.count() == 0


def test_admin_change_form_unmasked_is_logged(client, world):
    client.force_login(_staff(world, "community_secretary"))
    r = Resident.objects.filter(grid=world.r("grid_a1_1")).first()
    html = client.get(f"/admin/regions/resident/{r.pk}/change/").content.decode()
    assert r.id_number in html
    log = AccessLog.objects.get()
    assert (log.username, log.action, log.object_ids) == ("community_secretary", "admin", str(r.pk))


def test_admin_object_outside_scope_is_not_found(client, world):
    client.force_login(_staff(world, "community_worker"))
    r = Resident.objects.filter(grid=world.r("grid_b1_1")).first()
    resp = client.get(f"/admin/regions/resident/{r.pk}/change/")
    # Django's admin redirects to the index with "doesn't exist" for an object outside the queryset.
    assert resp.status_code == 302
    assert AccessLog.objects.count() == 0

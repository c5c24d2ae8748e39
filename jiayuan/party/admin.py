from django.contrib import admin

from jiayuan.core.admin import ScopedAdmin
from jiayuan.party.models import PartyMembership, PartyOrg


@admin.register(PartyOrg)
class PartyOrgAdmin(ScopedAdmin):
    list_display = ["code", "name", "kind", "region", "secretary_name"]
    list_filter = ["kind"]
    search_fields = ["code", "name"]
    raw_id_fields = ["parent", "region", "building"]


@admin.register(PartyMembership)
class PartyMembershipAdmin(ScopedAdmin):
    list_display = ["resident", "org", "kind", "role"]
    raw_id_fields = ["resident", "org"]

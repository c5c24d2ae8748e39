from django.contrib import admin

from jiayuan.core.admin import ScopedAdmin
from jiayuan.staff.models import Department, Post


@admin.register(Department)
class DepartmentAdmin(ScopedAdmin):
    list_display = ["code", "name", "short_name", "region", "phone"]
    search_fields = ["code", "name"]
    raw_id_fields = ["region"]
    filter_horizontal = ["serves"]


@admin.register(Post)
class PostAdmin(ScopedAdmin):
    list_display = ["user", "role", "region", "department", "can_view_personal", "is_active"]
    list_filter = ["role", "can_view_personal", "is_active"]
    search_fields = ["user__username", "user__first_name", "user__last_name"]
    raw_id_fields = ["user", "region", "department"]

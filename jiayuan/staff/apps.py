from django.apps import AppConfig


class StaffConfig(AppConfig):
    name = "jiayuan.staff"
    label = "staff"
    verbose_name = "部门与岗位"

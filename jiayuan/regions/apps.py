from django.apps import AppConfig


class RegionsConfig(AppConfig):
    name = "jiayuan.regions"
    label = "regions"
    verbose_name = "基础数据（人·房）"

from django.apps import AppConfig


class StatsConfig(AppConfig):
    name = "jiayuan.stats"
    label = "stats"
    verbose_name = "统计汇总"

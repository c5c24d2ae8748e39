from django.apps import AppConfig


class RoutingConfig(AppConfig):
    name = "jiayuan.routing"
    label = "routing"
    verbose_name = "精准派单"

from django.apps import AppConfig


class RoutingConfig(AppConfig):
    name = "jiayuan.routing"
    label = "routing"
    verbose_name = "精准派单"

    def ready(self) -> None:
        # The dispatch side's admin lives beside the classifier's admin.py.
        from jiayuan.routing import admin_dispatch  # noqa: F401

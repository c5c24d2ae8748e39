from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "jiayuan.core"
    label = "core"
    verbose_name = "核心"

    def ready(self) -> None:
        from jiayuan.core import checks  # noqa: F401  (registers system checks)

from django.apps import AppConfig


class Open311Config(AppConfig):
    name = "jiayuan.open311"
    label = "open311"
    verbose_name = "Open311 接口"

    def ready(self) -> None:
        # Keeping a per-process geometry cache fresh is not a business rule: a signal is the
        # simplest way to hear about every saved or deleted Region.
        from django.db.models.signals import post_delete, post_save

        from jiayuan.open311.locate import invalidate
        from jiayuan.regions.models import Region

        def _drop(**kwargs: object) -> None:
            invalidate()

        post_save.connect(_drop, sender=Region, dispatch_uid="open311_grid_index_save", weak=False)
        post_delete.connect(
            _drop, sender=Region, dispatch_uid="open311_grid_index_delete", weak=False
        )

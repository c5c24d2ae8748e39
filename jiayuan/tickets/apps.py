from django.apps import AppConfig


class TicketsConfig(AppConfig):
    name = "jiayuan.tickets"
    label = "tickets"
    verbose_name = "诉求办理（下呼上应）"

from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "jiayuan.notifications"
    label = "notifications"
    verbose_name = "消息通知"

from django.urls import path

from jiayuan.tickets import hotline_views

app_name = "hotline"

urlpatterns = [
    path("tickets/hotline-import/", hotline_views.hotline_import_page, name="import"),
]

"""URL map. Each app owns its own ``urls.py``; the API lives under /api/v1/."""

from django.contrib import admin
from django.urls import include, path

from jiayuan.api import api
from jiayuan.core import views as core_views

urlpatterns = [
    path("healthz", core_views.healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("api/v1/", api.urls),
    path("", include("jiayuan.core.urls")),
    path("", include("jiayuan.regions.urls")),
    path("", include("jiayuan.tickets.hotline_urls")),  # before tickets/<number>/
    path("", include("jiayuan.tickets.urls")),
    path("", include("jiayuan.routing.urls")),
    path("", include("jiayuan.notifications.urls")),
    path("", include("jiayuan.stats.urls")),
    path("open311/v2/", include("jiayuan.open311.urls")),
]

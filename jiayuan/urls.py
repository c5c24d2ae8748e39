"""URL map. Each app owns its own ``urls.py``; the API lives under /api/v1/."""

from django.contrib import admin
from django.urls import include, path

from jiayuan.api import api
from jiayuan.core import views as core_views

# The machine channels come first: Django tries the patterns in order, and every request to the
# intake endpoints otherwise walked some sixty page patterns before reaching its own.
urlpatterns = [
    path("healthz", core_views.healthz, name="healthz"),
    path("open311/v2/", include("jiayuan.open311.urls")),
    path("api/v1/", api.urls),
    path("admin/", admin.site.urls),
    path("", include("jiayuan.core.urls")),
    path("", include("jiayuan.regions.urls")),
    path("", include("jiayuan.tickets.hotline_urls")),  # before tickets/<number>/
    path("", include("jiayuan.tickets.urls")),
    path("", include("jiayuan.routing.urls")),
    path("", include("jiayuan.notifications.urls")),
    path("", include("jiayuan.stats.urls")),
]

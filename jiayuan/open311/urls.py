"""Open311 GeoReport v2, mounted at /open311/v2/. Every resource ends in .json or .xml."""

from django.urls import re_path

from jiayuan.open311 import views

app_name = "open311"

FMT = r"\.(?P<fmt>[A-Za-z0-9]+)$"

urlpatterns = [
    re_path(r"^discovery" + FMT, views.discovery, name="discovery"),
    re_path(r"^services" + FMT, views.services_list, name="services"),
    re_path(r"^services/(?P<code>[^/.]+)" + FMT, views.service_definition, name="service"),
    re_path(r"^requests" + FMT, views.requests, name="requests"),
    re_path(
        r"^requests/(?P<service_request_id>[^/.]+)" + FMT, views.request_detail, name="request"
    ),
    re_path(r"^tokens/(?P<token>[^/.]+)" + FMT, views.token, name="token"),
]

from django.urls import path

from jiayuan.routing import views

app_name = "routing"

urlpatterns = [
    path("routing/triage/", views.triage, name="triage"),
    path("routing/triage/<str:number>/", views.triage_decide, name="triage_decide"),
    path("routing/rules/", views.rule_list, name="rules"),
    path("routing/rules/new/", views.rule_create, name="rule_create"),
    path("routing/rules/preview/", views.rule_preview, name="rule_preview"),
    path("routing/rules/<int:pk>/", views.rule_edit, name="rule_edit"),
    path("routing/duplicates/<str:number>/", views.duplicates_fragment, name="duplicates"),
    path("routing/hotspots.geojson", views.hotspots_geojson, name="hotspots_geojson"),
]

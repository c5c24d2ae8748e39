from django.urls import path

from jiayuan.stats import views

app_name = "stats"

urlpatterns = [
    path("stats/", views.home, name="home"),
    path("stats/region/<int:pk>/", views.region_page, name="region"),
    path("stats/region/<int:pk>/list/<str:kind>/", views.region_list, name="region_list"),
    path(
        "stats/region/<int:pk>/export/<str:table>.xlsx", views.region_export, name="region_export"
    ),
    path("stats/department/<int:pk>/", views.department_page, name="department"),
    path(
        "stats/department/<int:pk>/list/<str:kind>/",
        views.department_list,
        name="department_list",
    ),
    path(
        "stats/department/<int:pk>/export/<str:table>.xlsx",
        views.department_export,
        name="department_export",
    ),
    path("stats/screen/", views.screen, name="screen"),
    path("stats/screen/data.json", views.screen_json, name="screen_json"),
]

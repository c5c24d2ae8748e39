from django.urls import path

from jiayuan.regions import import_views, views

app_name = "regions"

urlpatterns = [
    path("map/", views.grid_map, name="map"),
    path("map/grids.geojson", views.grid_geojson, name="grid_geojson"),
    path("grids/<int:pk>/card/", views.grid_card, name="grid_card"),
    path("regions/", views.region_list, name="region_list"),
    path("buildings/", views.building_list, name="building_list"),
    path("buildings/<int:pk>/board/", views.building_board, name="building_board"),
    path("buildings/<int:pk>/qr.svg", views.building_qr, name="building_qr"),
    path("b/<str:token>/", views.building_public, name="building_public"),
    path("households/", views.household_list, name="household_list"),
    path("households/<int:pk>/", views.household_detail, name="household_detail"),
    path("residents/", views.resident_list, name="resident_list"),
    path("residents/<int:pk>/", views.resident_detail, name="resident_detail"),
    path("residents/<int:pk>/reveal/", views.resident_reveal, name="resident_reveal"),
    path("export/<str:kind>.xlsx", views.export_list, name="export"),
    path("import/", import_views.import_upload, name="import"),
]

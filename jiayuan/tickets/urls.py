from django.urls import path

from jiayuan.tickets import views

app_name = "tickets"

urlpatterns = [
    # Residents (no login)
    path("r/<str:token>/", views.report_building, name="report_building"),
    path("report/", views.report, name="report"),
    path("report/done/<str:token>/", views.report_done, name="report_done"),
    path("track/", views.track, name="track"),
    path("track/<str:number>/", views.track_ticket, name="track_ticket"),
    path("track/<str:number>/rate/", views.track_rate, name="track_rate"),
    path("track/<str:number>/cancel/", views.track_cancel, name="track_cancel"),
    path("track/<str:number>/photos/<int:pk>/", views.track_photo, name="track_photo"),
    # Staff
    path("tickets/", views.inbox, name="inbox"),
    path("tickets/triage/", views.triage, name="triage"),
    path("tickets/<str:number>/", views.detail, name="detail"),
    path("tickets/<str:number>/act/<str:action>/", views.act, name="act"),
    path("tickets/<str:number>/reveal/", views.reveal, name="reveal"),
    path("tickets/<str:number>/photos/<int:pk>/", views.photo, name="photo"),
]

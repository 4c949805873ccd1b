from django.urls import path

from . import views

app_name = "console"
urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("inbox/", views.inbox_view, name="inbox"),
    path("inbox/count/", views.inbox_count_view, name="inbox_count"),
]

from django.urls import path

from . import views

app_name = "contracts"
urlpatterns = [
    path("", views.list_view, name="list"),
    path("new/", views.create_view, name="create"),
    path("export/", views.export_view, name="export"),
    path("<int:pk>/", views.detail_view, name="detail"),
    path("<int:pk>/edit/", views.edit_view, name="edit"),
    path("<int:pk>/status/", views.status_view, name="status"),
    path("<int:pk>/scan/", views.scan_view, name="scan"),
]

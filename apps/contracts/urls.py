from django.urls import path

from . import views

app_name = "contracts"
urlpatterns = [
    path("", views.list_view, name="list"),
    path("<int:pk>/", views.detail_view, name="detail"),
    path("new/", views.list_view, name="create"),
]

from django.urls import path

from . import views

app_name = "notifications"
urlpatterns = [
    path("", views.preferences_view, name="preferences"),
    path("robots/", views.robot_list_view, name="robot_list"),
    path("robots/new/", views.robot_create_view, name="robot_create"),
    path("robots/<int:pk>/", views.robot_edit_view, name="robot_edit"),
    path("robots/<int:pk>/test/", views.robot_test_view, name="robot_test"),
]

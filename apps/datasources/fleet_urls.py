from django.urls import path

from . import fleet_views as views

app_name = "fleet"

urlpatterns = [
    path("", views.rollout_list, name="list"),
    path("plan/", views.plan_view, name="plan"),
    path("start/", views.start_view, name="start"),
    path("<int:pk>/", views.rollout_detail, name="detail"),
    path("<int:pk>/progress/", views.progress_view, name="progress"),
    path("<int:pk>/export/", views.export_view, name="export"),
    path("<int:pk>/pause/", views.steer_view, {"action": "pause"}, name="pause"),
    path("<int:pk>/resume/", views.steer_view, {"action": "resume"}, name="resume"),
    path("<int:pk>/retry/", views.steer_view, {"action": "retry"}, name="retry"),
]

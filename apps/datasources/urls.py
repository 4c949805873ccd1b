"""Console routes of the data-source panel, under the customer: /customers/<pk>/datasource/…"""

from django.urls import path

from . import views

app_name = "datasources"
urlpatterns = [
    path("<int:pk>/datasource/", views.panel_view, name="panel"),
    path("<int:pk>/datasource/configure/", views.configure_view, name="configure"),
    path("<int:pk>/datasource/check/", views.check_view, name="check"),
    path("<int:pk>/datasource/status/", views.status_view, name="status"),
    path("<int:pk>/datasource/delete/", views.delete_view, name="delete"),
    path("<int:pk>/datasource/probe/", views.probe_view, name="probe"),
    path("<int:pk>/datasource/schema/", views.schema_view, name="schema"),
    path("<int:pk>/datasource/relocate/", views.relocate_view, name="relocate"),
    path("<int:pk>/datasource/relocate/check/", views.relocate_check_view, name="relocate_check"),
    path(
        "<int:pk>/datasource/relocations/<int:relocation_id>/",
        views.relocation_view,
        name="relocation",
    ),
    path(
        "<int:pk>/datasource/retired/<int:retired_id>/remove/",
        views.retired_remove_view,
        name="retired_remove",
    ),
    path("<int:pk>/datasource/rotate/", views.rotate_view, name="rotate"),
    path(
        "<int:pk>/datasource/rotations/<int:rotation_id>/",
        views.rotation_view,
        name="rotation",
    ),
    path("<int:pk>/datasource/clear/", views.clear_view, name="clear"),
    path("<int:pk>/datasource/clearings/", views.clearings_view, name="clearings"),
    path(
        "<int:pk>/datasource/clearings/<int:clearing_id>/restore/",
        views.restore_view,
        name="restore",
    ),
    path("<int:pk>/datasource/runs/<int:run_id>/", views.run_view, name="run"),
    path("<int:pk>/datasource/runs/<int:run_id>/retry/", views.retry_view, name="retry"),
    path("<int:pk>/datasource/runs/<int:run_id>/cleanup/", views.cleanup_view, name="cleanup"),
]

from django.urls import path

from . import views

app_name = "customers"
urlpatterns = [
    path("", views.list_view, name="list"),
    path("new/", views.create_view, name="create"),
    path("export/", views.export_view, name="export"),
    path("import/", views.import_view, name="import"),
    path("import/template.xlsx", views.import_template_view, name="import_template"),
    path("assign/", views.assign_view, name="assign"),
    path("packages/", views.package_list_view, name="package_list"),
    path("packages/new/", views.package_create_view, name="package_create"),
    path("packages/export/", views.package_export_view, name="package_export"),
    path("packages/<int:pk>/edit/", views.package_edit_view, name="package_edit"),
    path("<int:pk>/", views.detail_view, name="detail"),
    path("<int:pk>/edit/", views.edit_view, name="edit"),
    path("<int:pk>/merge/", views.merge_view, name="merge"),
    path("<int:pk>/activate/", views.activate_view, name="activate"),
    path("<int:pk>/close/", views.close_view, name="close"),
    path("<int:pk>/trial/", views.trial_view, name="trial"),
    path("<int:pk>/trial/extend/", views.extend_trial_view, name="extend_trial"),
    path("<int:pk>/contract-gate/", views.contract_gate_view, name="contract_gate"),
    path("<int:pk>/license-scan/", views.license_scan_view, name="license_scan"),
]

from django.urls import path

from . import views

app_name = "leads"
urlpatterns = [
    path("", views.list_view, name="list"),
    path("export/", views.export_view, name="export"),
    path("import/", views.import_view, name="import"),
    path("import/template.xlsx", views.import_template_view, name="import_template"),
    path("to-call/", views.to_call_view, name="to_call"),
    path("pool/", views.pool_view, name="pool"),
    path("new/", views.create_view, name="create"),
    path("assign/", views.assign_view, name="assign"),
    path("<int:pk>/", views.detail_view, name="detail"),
    path("<int:pk>/edit/", views.edit_view, name="edit"),
    path("<int:pk>/claim/", views.claim_view, name="claim"),
    path("<int:pk>/follow-up/", views.follow_up_view, name="follow_up"),
    path("<int:pk>/close/", views.close_view, name="close"),
    path("<int:pk>/reopen/", views.reopen_view, name="reopen"),
    path("<int:pk>/convert/", views.convert_view, name="convert"),
    path("<int:pk>/merge/", views.merge_view, name="merge"),
    path("rules/", views.rules_view, name="rules"),
    path("rules/new/", views.rule_edit_view, name="rule_create"),
    path("rules/<int:pk>/edit/", views.rule_edit_view, name="rule_edit"),
    path("rules/<int:pk>/delete/", views.rule_delete_view, name="rule_delete"),
    path("qr/", views.qr_list_view, name="qr_list"),
    path("qr/new/", views.qr_create_view, name="qr_create"),
    path("qr/export/", views.qr_export_view, name="qr_export"),
    path("qr/<int:pk>/edit/", views.qr_edit_view, name="qr_edit"),
    path("qr/<int:pk>/qr.png", views.qr_png_view, name="qr_png"),
    path("qr/<int:pk>/qr.svg", views.qr_svg_view, name="qr_svg"),
]

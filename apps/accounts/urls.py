from django.urls import path

from . import views

app_name = "accounts"
urlpatterns = [
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", views.logout_view, name="logout"),
    path("2fa/", views.two_factor_verify, name="two_factor_verify"),
    path("2fa/setup/", views.two_factor_setup, name="two_factor_setup"),
    path("staff/", views.staff_list, name="staff_list"),
    path("staff/new/", views.staff_create, name="staff_create"),
    path("staff/export/", views.staff_export, name="staff_export"),
    path("staff/<int:pk>/", views.staff_edit, name="staff_edit"),
    path("staff/<int:pk>/password/", views.staff_password, name="staff_password"),
    path("staff/<int:pk>/active/", views.staff_set_active, name="staff_set_active"),
    path("staff/<int:pk>/unlock/", views.staff_unlock, name="staff_unlock"),
    path("staff/<int:pk>/2fa-reset/", views.staff_reset_second_factor, name="staff_2fa_reset"),
    path("tokens/", views.token_list, name="token_list"),
    path("tokens/new/", views.token_issue, name="token_issue"),
    path("tokens/export/", views.token_export, name="token_export"),
    path("tokens/<int:pk>/revoke/", views.token_revoke, name="token_revoke"),
]

from django.urls import path

from . import public

app_name = "public"
urlpatterns = [
    path("", public.apply, name="apply"),
    path("done/", public.apply_done, name="apply_done"),
    path("privacy/", public.privacy, name="privacy"),
]

"""The product's URLs plus a bare view, for benchmarks/registry.py only: the floor of any
request through the same server, workers and middleware."""

from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse
from django.urls import path

import config.urls as product

BARE_PATH = "__bench__/bare/"


@login_not_required
def bare(request: HttpRequest) -> HttpResponse:
    return HttpResponse(b'{"ok":true}', content_type="application/json")


urlpatterns = [path(BARE_PATH, bare), *product.urlpatterns]
handler403 = product.handler403
handler404 = product.handler404
handler500 = product.handler500

from django.http import HttpRequest, HttpResponse


def list_view(request: HttpRequest) -> HttpResponse:
    return HttpResponse("")


def detail_view(request: HttpRequest, pk: int) -> HttpResponse:
    return HttpResponse("")

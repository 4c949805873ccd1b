from django.http import HttpRequest, HttpResponse


def audit_list(request: HttpRequest) -> HttpResponse:
    return HttpResponse("")

from django.conf import settings


def site(request):
    return {"time_zone_name": settings.TIME_ZONE}

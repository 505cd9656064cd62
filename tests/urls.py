from django.conf import settings
from django.contrib import admin
from django.urls import include, path

urlpatterns = [path("admin/", admin.site.urls)]
if settings.HAS_API:  # the REST API's tests; absent where DRF is not installed
    urlpatterns += [path("api/", include("tablecron.contrib.rest_framework.urls"))]
if settings.HAS_METRICS:  # the metrics view's tests; absent without prometheus_client
    urlpatterns += [path("tablecron/", include("tablecron.contrib.prometheus.urls"))]

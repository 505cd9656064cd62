from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    # tablecron's REST API: jobs, runs, tasks, upcoming fire times, and its schema at api/schema/.
    path("api/", include("tablecron.contrib.rest_framework.urls")),
    # Sign-in for the browsable API (the admin's sign-in works too).
    path("api-auth/", include("rest_framework.urls")),
    path("", include("demo.urls")),
]

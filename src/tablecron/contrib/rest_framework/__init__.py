"""The REST API: Django REST framework viewsets over the job table (``django-tablecron[api]``).

Mount it with ``path("api/tablecron/", include("tablecron.contrib.rest_framework.urls"))``
or register the viewsets of ``views`` on a router of your own. See docs/api.md.

Nothing outside this package imports DRF, django-filter or drf-spectacular.
"""

"""Who may use the API: Django's model permissions on ``Job``, by default.

``TABLECRON["API_PERMISSION_CLASSES"]`` replaces them (dotted paths of DRF permission
classes), for every view of the API.
"""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import DjangoModelPermissions
from rest_framework.request import Request
from rest_framework.views import APIView

_VIEW = ["%(app_label)s.view_%(model_name)s"]


class ModelPermissions(DjangoModelPermissions):
    """``DjangoModelPermissions``, with reading guarded too, and per-action permissions.

    DRF's class lets any signed-in user read; this one asks for ``view_job`` as the admin
    does, since jobs name tasks and hold their arguments. A view may name the permission
    an action needs in ``action_permissions`` (``{"run": "change"}``): running a job
    is a POST, but it changes the job rather than adding one.
    """

    perms_map = {**DjangoModelPermissions.perms_map, "GET": _VIEW, "HEAD": _VIEW}

    def has_permission(self, request: Request, view: APIView) -> bool:
        user: Any = request.user
        if not user or not user.is_authenticated:
            return False
        model = self._queryset(view).model
        verb = getattr(view, "action_permissions", {}).get(getattr(view, "action", None))
        if verb is None:
            perms = self.get_required_permissions(request.method or "", model)
        else:
            perms = [f"{model._meta.app_label}.{verb}_{model._meta.model_name}"]
        return bool(user.has_perms(perms))

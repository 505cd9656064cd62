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
    does, since jobs name tasks and hold their arguments. A view may name the permissions
    an action needs in ``action_permissions``, any one of which will do (``{"pause":
    ("pause", "change")}``): running a job is a POST, but it adds no job.
    """

    perms_map = {**DjangoModelPermissions.perms_map, "GET": _VIEW, "HEAD": _VIEW}

    def has_permission(self, request: Request, view: APIView) -> bool:
        user: Any = request.user
        if not user or not user.is_authenticated:
            return False
        model = self._queryset(view).model
        verbs = getattr(view, "action_permissions", {}).get(getattr(view, "action", None))
        if verbs is None:
            return bool(user.has_perms(self.get_required_permissions(request.method or "", model)))
        opts = model._meta
        return any(user.has_perm(f"{opts.app_label}.{verb}_{opts.model_name}") for verb in verbs)

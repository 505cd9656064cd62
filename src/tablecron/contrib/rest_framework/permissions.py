"""Who may use the API: Django's model permissions on ``Job``, by default.

``TABLECRON["API_PERMISSION_CLASSES"]`` replaces them (dotted paths of DRF permission
classes), for every view of the API. Reading a run's output also needs
``tablecron.view_output``, whatever that setting says (``CanViewOutput``).
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _
from rest_framework.permissions import BasePermission, DjangoModelPermissions
from rest_framework.request import Request
from rest_framework.views import APIView

_VIEW = ["%(app_label)s.view_%(model_name)s"]
VIEW_OUTPUT = "tablecron.view_output"


class ModelPermissions(DjangoModelPermissions):
    """``DjangoModelPermissions``, with reading guarded too, and per-action permissions.

    DRF's class lets any signed-in user read; this one asks for ``view_job`` as the admin
    does, since jobs name tasks and hold their arguments. A view may name the permissions
    an action needs in ``action_permissions``, any one of which will do (``{"pause":
    ("pause", "change")}``): running a job is a POST, but it adds no job. A verb is a
    permission on the view's model (``pause`` -> ``tablecron.pause_job``); a name with a
    dot is a permission as it stands (``tablecron.run_job``, for running a run again).
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
        return any(
            user.has_perm(verb if "." in verb else f"{opts.app_label}.{verb}_{opts.model_name}")
            for verb in verbs
        )


class CanViewOutput(BasePermission):
    """``tablecron.view_output``: what runs print and log can hold secrets (a token in a
    URL, a customer's address), which seeing a run's status and error does not grant.

    Required for the output on top of ``API_PERMISSION_CLASSES``, so that a setting
    written before runs had output (``IsAdminUser``, ``IsAuthenticated``) does not open it.
    """

    message = _("You do not have permission to read the output of runs.")

    def has_permission(self, request: Request, view: APIView) -> bool:
        user: Any = request.user
        return bool(user and user.is_authenticated and user.has_perm(VIEW_OUTPUT))

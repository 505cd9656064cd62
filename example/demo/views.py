from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_safe


@require_safe
def health(request: HttpRequest) -> JsonResponse:
    """A liveness probe, for the ``demo.tablecron_jobs.ping`` task to call."""
    return JsonResponse({"ok": True})

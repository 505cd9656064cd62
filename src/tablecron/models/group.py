"""Concurrency groups: jobs that name the same ``Job.concurrency_group`` share its
``limit`` of runs at once (a warehouse that two jobs load, say), across every scheduler
and executor. The limit is enforced where runs are taken (``tablecron.groups``); this
module holds the table operators edit.

A name that no ``ConcurrencyGroup`` row holds yet is a group of limit 1: the row is
created when a job naming it is saved, and at the latest when a run of the group is
taken, so that operators find it in the admin to raise its limit.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.core.validators import MinValueValidator
from django.db import models
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from tablecron.validators import validate_text

DEFAULT_LIMIT = 1


class ConcurrencyGroup(models.Model):
    name = models.CharField(
        _("name"),
        max_length=100,
        unique=True,
        validators=[validate_text],
        help_text=_("What jobs put in their concurrency group field, e.g. “warehouse”."),
    )
    limit = models.PositiveIntegerField(
        _("limit"),
        default=DEFAULT_LIMIT,
        validators=[MinValueValidator(1)],
        help_text=_(
            "At most this many runs of the group's jobs at once, across all schedulers and "
            "workers. Lowered while more run: they finish, and none starts until fewer run."
        ),
    )
    description = models.TextField(_("description"), blank=True, validators=[validate_text])
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("concurrency group")
        verbose_name_plural = _("concurrency groups")
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(limit__gte=1),
                name="tablecron_group_limit_positive",
                violation_error_message=_("Allow at least one run at once."),
            ),
        ]

    def __str__(self) -> str:
        return self.name


def ensure_groups(names: Iterable[str], using: str | None = None) -> None:
    """Create the groups ``names`` that do not exist yet, each with limit 1; an existing
    group is left as it is (the unique name decides, whoever inserts at the same time)."""
    wanted = {name for name in names if name}
    if not wanted:
        return
    groups = ConcurrencyGroup.objects.using(using)
    # Read first: most saves name a group that exists, and an insert that meets a row
    # a claim holds locked waits for it on MySQL.
    missing = wanted.difference(groups.filter(name__in=wanted).values_list("name", flat=True))
    if missing:
        rows = [ConcurrencyGroup(name=name) for name in sorted(missing)]
        groups.bulk_create(rows, ignore_conflicts=True)


def taken_slots(names: Iterable[str], using: str | None = None) -> dict[str, int]:
    """How many runs of each group ``names`` hold a slot: claimed by a scheduler (sent to
    a queue, or about to start) or running."""
    from tablecron.models.run import JobRun

    return dict(
        JobRun.objects.using(using)
        .active()
        .filter(concurrency_group__in=list(names))
        .exclude(worker="")
        .values("concurrency_group")
        .annotate(n=models.Count("pk"))
        .values_list("concurrency_group", "n")
    )


def limits(names: Iterable[str], using: str | None = None) -> dict[str, int]:
    """The limit of each group ``names``; a name without a row has limit 1."""
    names = list(names)
    found = ConcurrencyGroup.objects.using(using).filter(name__in=names)
    return {**dict.fromkeys(names, DEFAULT_LIMIT), **dict(found.values_list("name", "limit"))}


def waiting_reason(group: str, using: str | None = None) -> str:
    """ "waiting for group warehouse: 1 of 1 running", counted now."""
    return gettext("waiting for group %(group)s: %(taken)d of %(limit)d running") % {
        "group": group,
        "taken": taken_slots([group], using).get(group, 0),
        "limit": limits([group], using)[group],
    }

"""``RunOutput``: what a run printed and logged, in chunks written as it ran.

Apart from the run's row, so that the run list and the claim never read it. A chunk's
``offset`` is where its text starts in everything the run wrote, in characters; a run
that wrote more than ``OUTPUT_LIMIT`` keeps its head and its tail, and the gap between
two chunks is what was cut.
"""

from __future__ import annotations

from typing import ClassVar, NamedTuple

from django.db import models
from django.utils.translation import gettext_lazy as _


class OutputSlice(NamedTuple):
    """A run's output from ``offset`` on (a cut part marked), and where the next read
    starts."""

    text: str
    offset: int
    next_offset: int


def cut_marker(characters: int) -> str:
    return f"[… {characters:,} characters cut …]\n"


class RunOutputQuerySet(models.QuerySet["RunOutput"]):
    def read(self, run_id: int, offset: int = 0) -> OutputSlice:
        """Run ``run_id``'s output from character ``offset`` on: a follower passes the
        ``next_offset`` of its last read."""
        parts: list[str] = []
        end = offset
        for start, text in (
            self.filter(run_id=run_id).order_by("offset").values_list("offset", "text")
        ):
            if start + len(text) <= end:
                continue
            if start > end:
                if end > 0 or parts:
                    parts.append(cut_marker(start - end))
                end = start
            parts.append(text[end - start :])
            end = start + len(text)
        return OutputSlice("".join(parts), offset, end)


class RunOutput(models.Model):
    run = models.ForeignKey(
        "tablecron.JobRun",
        verbose_name=_("run"),
        related_name="output_chunks",
        on_delete=models.CASCADE,
    )
    offset = models.PositiveBigIntegerField(
        _("offset"), help_text=_("Where this text starts in the run's output, in characters.")
    )
    text = models.TextField(_("text"))

    objects: ClassVar[RunOutputQuerySet] = RunOutputQuerySet.as_manager()  # type: ignore[assignment]

    class Meta:
        verbose_name = _("run output")
        verbose_name_plural = _("run outputs")
        default_permissions = ()  # read through the run: JobRun's view_output permission
        constraints = [
            models.UniqueConstraint(fields=["run", "offset"], name="tablecron_runoutput_once"),
        ]

    def __str__(self) -> str:
        return f"{self.run_id} @ {self.offset}"

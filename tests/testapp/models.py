"""A hand-rolled table of APScheduler jobs, as projects keep them: the trigger's name and
its keyword arguments, with the task's arguments as JSON (tests/imports/)."""

from django.db import models


class ScheduledJob(models.Model):
    name = models.CharField(max_length=100, unique=True)
    func = models.CharField(max_length=200)
    trigger = models.CharField(max_length=20)
    trigger_args = models.JSONField(default=dict)
    args = models.JSONField(default=list)
    kwargs = models.JSONField(default=dict)
    enabled = models.BooleanField(default=True)

    class Meta:
        app_label = "testapp"

    def __str__(self) -> str:
        return self.name

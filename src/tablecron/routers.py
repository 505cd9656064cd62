"""``TablecronRouter``: puts tablecron's tables, and every query on them, on the database
the ``DATABASE`` setting names. Add it to ``DATABASE_ROUTERS`` when that is not
``"default"``; it says nothing about other apps' models, so your routers decide those."""

from __future__ import annotations

from typing import Any

from django.db.models import Model

from tablecron.conf import settings

APP_LABEL = "tablecron"


class TablecronRouter:
    def db_for_read(self, model: type[Model], **hints: Any) -> str | None:
        return settings.DATABASE if model._meta.app_label == APP_LABEL else None

    def db_for_write(self, model: type[Model], **hints: Any) -> str | None:
        return settings.DATABASE if model._meta.app_label == APP_LABEL else None

    def allow_relation(self, obj1: Model, obj2: Model, **hints: Any) -> bool | None:
        labels = {obj1._meta.app_label, obj2._meta.app_label}
        return True if labels == {APP_LABEL} else None

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool | None:
        return db == settings.DATABASE if app_label == APP_LABEL else None

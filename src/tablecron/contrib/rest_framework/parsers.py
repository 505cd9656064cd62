"""The API reads JSON bodies only: the one encoding that carries every field (null,
lists, objects), and the one its OpenAPI schema describes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import IO, Any

from django.utils.translation import gettext_lazy as _
from rest_framework import parsers
from rest_framework.exceptions import ParseError

from tablecron.validators import json_depth

# Far deeper than any job needs (its arguments nest at most MAX_JSON_DEPTH levels), and
# shallow enough that nothing that walks the body afterwards runs out of stack.
MAX_BODY_DEPTH = 100


class JSONParser(parsers.JSONParser):
    """DRF's, refusing a body nested too deeply with a 400, never a RecursionError."""

    def parse(
        self,
        stream: IO[Any],
        media_type: str | None = None,
        parser_context: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        try:
            data = super().parse(stream, media_type, parser_context)
            too_deep = json_depth(data) > MAX_BODY_DEPTH
        except RecursionError:
            too_deep = True
        if too_deep:
            raise ParseError(
                _("JSON parse error - nested more than %(limit)d levels deep.")
                % {"limit": MAX_BODY_DEPTH}
            )
        return data

"""The REST API's request parsers (REST_FRAMEWORK["DEFAULT_PARSER_CLASSES"]): every API view's JSON."""

from __future__ import annotations

from collections.abc import Mapping
from typing import IO, Any

from rest_framework import exceptions, parsers


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, with JSON nested deeper than the decoder's recursion limit answered 400 like
    any other bad JSON: the decoder raises RecursionError there, which DRF does not catch (a 500)."""

    def parse(
        self, stream: IO[Any], media_type: str | None = None, parser_context: Mapping[str, Any] | None = None
    ) -> Any:
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise exceptions.ParseError("JSON parse error - the JSON is nested too deeply.") from None

"""The management API's JSON body parser: strict JSON (orchestration.jsonsafe).

django-ninja turns any parser exception into HttpError(400, "Cannot parse request body")
raised from it; the API's HttpError handler shows the JSONError's message instead, so
the caller learns what is wrong (nesting, NaN, malformed text).
"""

from __future__ import annotations

from django.http import HttpRequest
from ninja.parser import Parser

from orchestration import jsonsafe


class StrictJSONParser(Parser):
    def parse_body(self, request: HttpRequest):
        return jsonsafe.loads(request.body)

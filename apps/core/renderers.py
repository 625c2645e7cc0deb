"""The API's JSON renderer: never fails on a string it was given to echo."""

from __future__ import annotations

import copy

from rest_framework.renderers import JSONRenderer as _JSONRenderer


class JSONRenderer(_JSONRenderer):
    def render(self, data, accepted_media_type=None, renderer_context=None):
        try:
            return super().render(data, accepted_media_type, renderer_context)
        except UnicodeEncodeError:
            # A lone surrogate (from a client, or echoed in an error message) cannot be
            # encoded as UTF-8; escaped as \\uXXXX the same data is valid JSON.
            escaping = copy.copy(self)
            escaping.ensure_ascii = True
            return escaping.render(data, accepted_media_type, renderer_context)

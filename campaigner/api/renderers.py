"""The management API's renderer, imported by ``REST_FRAMEWORK`` in the settings (so it
imports nothing that reads DRF's settings)."""

from __future__ import annotations

from typing import Any

from rest_framework.renderers import JSONRenderer


class ManagementJsonRenderer(JSONRenderer):
    """DRF's JSON renderer (``REST_FRAMEWORK["DEFAULT_RENDERER_CLASSES"]``), with text UTF-8
    cannot encode (an unpaired surrogate a client sent as ``"\\udfff"`` and an error echoes
    back, e.g. as an unknown key's name) escaped again as the client sent it, not a 500."""

    def render(
        self, data: Any, accepted_media_type: Any = None, renderer_context: Any = None
    ) -> Any:
        try:
            return super().render(data, accepted_media_type, renderer_context)
        except UnicodeEncodeError:
            escaping = AsciiJsonRenderer()
            return escaping.render(data, accepted_media_type, renderer_context)


class AsciiJsonRenderer(JSONRenderer):
    ensure_ascii = True

"""The OpenAPI 3.1 description of the gateway, written by hand (served at ``/openapi.json``).

:mod:`~gateway.openapi.paths` holds the paths, parameters and responses and builds the
document; the schemas are in :mod:`~gateway.openapi.chat_request`,
:mod:`~gateway.openapi.chat_response`, :mod:`~gateway.openapi.reports` and
:mod:`~gateway.openapi.admin`, from the building blocks of :mod:`~gateway.openapi.parts`.
"""

from gateway.openapi.paths import document

__all__ = ["document"]

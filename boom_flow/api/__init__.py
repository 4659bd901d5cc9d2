"""The HTTP API over the archive and the filters (BOOM-compatible; api.md).

``create_app(settings)`` builds the ASGI application that ``boom-flow api`` serves.
"""

from boom_flow.api.app import create_app

__all__ = ["create_app"]

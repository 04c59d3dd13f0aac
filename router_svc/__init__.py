"""The router service: classifies requests, walks fallback chains, reports usage."""

__all__: list[str] = []

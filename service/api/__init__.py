"""The HTTP API: thin routers over service.processing and service.queries."""

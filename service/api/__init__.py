"""The HTTP API: thin routers over the domain packages (contacts, enrollments, catalog, ...)."""

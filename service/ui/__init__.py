"""The dashboard at /ui: journeys, contacts and previews as server-rendered pages."""

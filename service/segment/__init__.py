"""Segment's HTTP tracking API: events from any Segment SDK, pointed at nurture by `host`."""

"""Signed links in sent messages and website tracking: what ties a person's clicks and visits
back to her contact."""

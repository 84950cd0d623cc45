"""Provider webhooks in: the registry of providers, their settings, and the receiving pipeline."""

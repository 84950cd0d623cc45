"""Contacts: who an event is about, her profile, consent and suppression, and her reads."""

"""Sending: the outbox, send-time rules, composing, one writer of message status, providers."""

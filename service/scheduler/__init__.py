"""Due work: timers of enrollments, then the outbox, claimed from our own tables."""

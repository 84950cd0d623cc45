"""Due work: timers of enrollments and the outbox, claimed from our own tables."""

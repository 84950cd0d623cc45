"""Journey analytics: every figure of a journey computed in the database, one definition each."""

"""Enrollments: every unit of work that moves contacts through journeys, and its persistence."""

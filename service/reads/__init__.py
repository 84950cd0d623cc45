"""The read side for operators, agents and the website: what is known about one contact."""

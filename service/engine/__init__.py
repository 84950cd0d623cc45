"""The journey engine: the language, the pure decision core, and template rendering."""

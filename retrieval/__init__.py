"""Docent's core: settings, errors, model adapters, store, search, answers."""

DOCENT_PACKAGE = True
"""Marks this as Docent's own top-level package (checked at start-up: api.cli.installation)."""

"""Docent's HTTP service and the `docent` command (see README, "Import names")."""

DOCENT_PACKAGE = True
"""Marks this as Docent's own top-level package (checked at start-up: api.cli.installation)."""

"""A start-up guard: Docent's top-level package names must be Docent's own.

A wheel of Docent installs the top-level packages ``api``, ``ingest`` and ``retrieval``
(and ``standin`` with its extra). Docent is an application meant for its own environment
(``pipx install`` / ``uv tool install``, or the project's ``.venv``), where nothing else
claims those names. Should another package (or a folder in the working directory) shadow
one of them anyway, the command stops with this message instead of failing later with a
confusing ``AttributeError``.
"""

from __future__ import annotations

import importlib

OWN_PACKAGES = ("api", "ingest", "retrieval")


class ForeignPackage(Exception):
    """An import name of Docent resolves to someone else's package."""


def check_own_packages(names: tuple[str, ...] = OWN_PACKAGES) -> None:
    """Check that each of ``names`` imports Docent's package (its ``DOCENT_PACKAGE`` marker).

    Raises:
        ForeignPackage: one of them is another project's; the message says which and what to do.
    """
    for name in names:
        try:
            module = importlib.import_module(name)
        except ImportError as exc:
            raise ForeignPackage(f"Docent's package {name!r} cannot be imported: {exc}.") from exc
        if getattr(module, "DOCENT_PACKAGE", False) is not True:
            where = getattr(module, "__file__", None) or "a namespace package"
            raise ForeignPackage(
                f"The top-level package {name!r} is not Docent's (found {where}): another "
                "project or a folder in the working directory uses the same name. Install "
                "Docent into its own environment (`pipx install docent` or `uv tool install "
                "docent`), or run it from another folder."
            )

"""Kept for tests written against this old path: the helpers live in :mod:`tests.stores`."""

from tests.stores import Doc, fill_store, make_chunks

__all__ = ["Doc", "fill_store", "make_chunks"]

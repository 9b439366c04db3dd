"""Settled marks: written by a closing store that holds the claim, for collections known
complete at the revision their records were read at; gone or void once anything writes."""

from __future__ import annotations

import os
from pathlib import Path

from retrieval.settled import (
    DATABASE_FILE,
    marks_folder,
    read_mark,
    write_mark,
)
from retrieval.store import ChunkStore, doc_id_for
from tests.retrieval.test_record_cache import NAME, document, open_store, sources
from tests.retrieval.test_store import DIM


def verified_store(folder: Path) -> ChunkStore:
    """A store that wrote the documents, read their records and marked them verified."""
    store = open_store(folder)
    store.ensure_collection(NAME, "fake", DIM)
    store.write_documents(NAME, [document(s) for s in sources()], embed_model="fake")
    token, _ = store.verification(NAME)
    store.get_records(NAME, [doc_id_for(s) for s in sources()])
    store.mark_verified(NAME, token)
    return store


def test_a_mark_holds_until_the_database_file_changes(tmp_path: Path) -> None:
    database = tmp_path / DATABASE_FILE
    database.write_bytes(b"pages")
    write_mark(tmp_path, NAME, "records:token", "fake")
    mark = read_mark(tmp_path, NAME)
    assert mark is not None
    assert (mark.key, mark.embed_model) == ("records:token", "fake")

    stat = database.stat()
    os.utime(database, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1))  # same size, touched
    assert read_mark(tmp_path, NAME) is None


def test_names_that_are_not_collections_have_no_mark(tmp_path: Path) -> None:
    (tmp_path / DATABASE_FILE).write_bytes(b"pages")
    write_mark(tmp_path / "inner", NAME, "k", "fake")
    assert read_mark(tmp_path / "inner" / "x", f"../../{NAME}") is None
    assert read_mark(tmp_path, ".hidden") is None


def test_a_closing_writer_marks_a_collection_verified_at_its_records_revision(
    tmp_path: Path,
) -> None:
    store = verified_store(tmp_path)
    key = f"{store._docs(NAME).id}:{store.verification(NAME)[0]}"
    store.close()

    mark = read_mark(tmp_path, NAME)
    assert mark is not None
    assert (mark.key, mark.embed_model) == (key, "fake")


def test_a_collection_not_known_complete_is_not_marked(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    store.ensure_collection(NAME, "fake", DIM)
    store.write_documents(NAME, [document(s) for s in sources()], embed_model="fake")
    store.get_records(NAME, [doc_id_for(s) for s in sources()])  # cached, never verified
    store.close()

    assert read_mark(tmp_path, NAME) is None


def test_a_write_deletes_every_mark_before_it_lands(tmp_path: Path) -> None:
    verified_store(tmp_path).close()
    assert read_mark(tmp_path, NAME) is not None

    store = open_store(tmp_path)
    store.write_documents(NAME, [document(sources()[0], "v2")], embed_model="fake")
    assert not marks_folder(tmp_path).exists()  # gone as the write began, not at close
    store.close()
    assert read_mark(tmp_path, NAME) is None  # the records were read before the write


def test_a_process_that_never_claimed_the_folder_marks_nothing(tmp_path: Path) -> None:
    verified_store(tmp_path).close()
    write_free = open_store(tmp_path)
    for mark in marks_folder(tmp_path).iterdir():
        mark.unlink()
    write_free.get_records(NAME, [doc_id_for(s) for s in sources()])  # reads only
    write_free.close()

    assert read_mark(tmp_path, NAME) is None


def test_a_collection_being_written_as_the_store_closes_is_not_marked(tmp_path: Path) -> None:
    store = verified_store(tmp_path)
    with store.locks.collection(NAME):  # a write still running in another thread
        store.close()

    assert read_mark(tmp_path, NAME) is None

"""``docent ingest`` over unchanged files, answered from the settled mark without opening
Chroma: the same report as the pipeline's, and never when anything may have changed."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path
from typing import Any

from ingest.pipeline import Ingestor
from ingest.reading import InProcessReader
from ingest.service import ingest_paths
from ingest.sources import content_hash
from retrieval.locks import WriterClaim
from retrieval.settings import ChromaSettings, Settings
from retrieval.settled import marks_folder, read_mark
from retrieval.store import ChunkStore, doc_id_for
from tests.fakes import FakeEmbedder
from tests.ingest.test_cli import env_for, ingest, scifact_corpus, snapshot
from tests.ingest.test_kill_ingest import fast_model
from tests.retrieval.test_record_cache import open_store

DOCS = 120
"""Enough documents for the record cache (lookups of 100 or more)."""


Env = dict[str, str]


def run(env: Env, docs: Path) -> tuple[dict[str, Any], bool]:
    """The JSON report of one run, and whether the run imported chromadb."""
    done = ingest({**env, "PYTHONPROFILEIMPORTTIME": "1"}, str(docs), "--json", "-c", "abstracts")
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout)
    report.pop("seconds")
    return report, " chromadb\n" in done.stderr


def test_an_unchanged_rerun_is_reported_like_the_pipeline_without_opening_chroma(
    tmp_path, ollama_host, embed_model
):
    docs = scifact_corpus(tmp_path / "docs", DOCS)
    chroma = tmp_path / "chroma"
    env = env_for(ollama_host, fast_model(ollama_host, embed_model), chroma)
    first, _ = run(env, docs)  # written alone into a new collection: left settled
    settled, opened_when_settled = run(env, docs)
    shutil.rmtree(marks_folder(chroma))
    verified, opened_without_a_mark = run(env, docs)  # the pipeline, from Chroma

    assert first["files"]["ingested"] == DOCS
    assert not opened_when_settled
    assert opened_without_a_mark
    assert verified["files"]["unchanged"] == DOCS
    assert settled == verified

    (docs / sorted(p.name for p in docs.iterdir())[0]).write_text("A changed abstract.")
    changed, opened_for_the_change = run(env, docs)
    again, opened_after_the_change = run(env, docs)
    assert opened_for_the_change
    assert (changed["files"]["ingested"], changed["files"]["unchanged"]) == (1, DOCS - 1)
    assert not opened_after_the_change  # the change's run left it settled too
    assert again["files"]["unchanged"] == DOCS


def settled(tmp_path: Path, ollama_host: str, embed_model: str) -> tuple[Path, Path, Env]:
    """The abstracts ingested into a new collection (left settled): docs, Chroma, env."""
    docs = scifact_corpus(tmp_path / "docs", DOCS)
    chroma = tmp_path / "chroma"
    env = env_for(ollama_host, fast_model(ollama_host, embed_model), chroma)
    run(env, docs)
    return docs, chroma, env


def test_a_write_by_another_process_since_the_mark_sends_the_run_to_chroma(
    tmp_path, ollama_host, embed_model
):
    docs, chroma, env = settled(tmp_path, ollama_host, embed_model)
    assert (marks_folder(chroma) / "abstracts.json").is_file()

    store = ChunkStore.from_settings(ChromaSettings(path=chroma))
    removed = sorted(p.name for p in docs.iterdir())[0]
    store.delete_document("abstracts", doc_id_for(removed))
    store.close()
    report, opened = run(env, docs)

    assert opened
    assert (report["files"]["ingested"], report["files"]["unchanged"]) == (1, DOCS - 1)


def test_a_settled_run_still_refuses_a_folder_another_process_writes(
    tmp_path, ollama_host, embed_model
):
    docs, chroma, env = settled(tmp_path, ollama_host, embed_model)
    assert read_mark(chroma, "abstracts") is not None
    claim = WriterClaim(chroma)
    claim.acquire("a test holding the folder")
    try:
        refused = ingest(env, str(docs), "--json", "-c", "abstracts")
    finally:
        claim.release()

    assert refused.returncode == 2
    assert "a test holding the folder" in refused.stderr


def test_seeded_changes_between_runs_match_a_serial_model(tmp_path, ollama_host, embed_model):
    """Random steps between runs (edit, add, remove a file; a document deleted or the store
    merely read by another process); each run reports what the model expects, opens Chroma
    exactly when the model says it must, and the index ends equal to one built afresh."""
    rng = random.Random(145)  # every action, and seven runs answered from the mark
    docs, chroma, env = settled(tmp_path, ollama_host, embed_model)
    stale: set[str] = set()  # files the next run must ingest
    marked = True  # the last run left a settled mark that nothing has voided since
    orphans = 0  # documents whose files were removed
    for step in range(12):
        names = sorted(p.name for p in docs.iterdir())
        # a removed file's record stays (no --sync) and is never looked up again, so the
        # collection is never again known complete: removals come last
        actions = ["edit", "add", "delete_document", "read", "none", "none", "none"]
        action = rng.choice([*actions, "remove"] if step >= 8 else actions)
        if action == "edit":
            name = rng.choice(names)
            (docs / name).write_text(f"Edited at step {step}: {rng.random()}")
            stale.add(name)
        elif action == "add":
            (docs / f"new-{step}.txt").write_text(f"A new abstract, step {step}.")
            stale.add(f"new-{step}.txt")
        elif action == "remove":
            name = rng.choice(names)
            (docs / name).unlink()
            stale.discard(name)  # without --sync its document stays, unreported
            orphans += 1
        elif action in ("delete_document", "read"):
            store = ChunkStore.from_settings(ChromaSettings(path=chroma))
            name = rng.choice(names)
            if action == "delete_document" and store.get_records("abstracts", [doc_id_for(name)]):
                store.delete_document("abstracts", doc_id_for(name))
                stale.add(name)
            else:
                store.list_documents("abstracts")
            store.close()
            marked = False  # Chroma was opened: its database file changed
        report, opened = run(env, docs)
        present = len(list(docs.iterdir()))
        assert report["files"]["ingested"] == len(stale), (step, action)
        assert report["files"]["unchanged"] == present - len(stale), (step, action)
        assert opened == (bool(stale) or not marked), (step, action)
        if opened:  # marked if the run found every record, all complete, and wrote alone
            marked = not orphans
        stale.clear()

    fresh = tmp_path / "fresh"
    run(env_for(ollama_host, fast_model(ollama_host, embed_model), fresh), docs)
    kept_chunks, kept_docs = snapshot(chroma, "abstracts")
    fresh_chunks, fresh_docs = snapshot(fresh, "abstracts")
    present = {p.name for p in docs.iterdir()}
    assert [d for d in kept_docs if d[0] in present] == fresh_docs
    assert [c for c in kept_chunks if c[2] and dict(c[2]).get("source") in present] == fresh_chunks


# -- in process: when a run leaves its collection verified and its records cached ----------


def small_docs(folder: Path, count: int = DOCS) -> Path:
    folder.mkdir()
    for i in range(count):
        (folder / f"doc-{i:03}.txt").write_text(f"Document {i} about kettles and tea.")
    return folder


async def ingest_into(chroma: Path, docs: Path, settings: Settings, *, bulk: bool) -> ChunkStore:
    store = ChunkStore.from_settings(ChromaSettings(path=chroma))
    ingestor = Ingestor(store, FakeEmbedder(), settings, reader=InProcessReader())
    report = await ingest_paths(ingestor, [docs], collection="abstracts", bulk=bulk)
    assert report.ok
    return store


def settled_after_close(store: ChunkStore, chroma: Path) -> bool:
    verified = store.verification("abstracts")[1]
    store.close()
    return verified and read_mark(chroma, "abstracts") is not None


async def test_a_run_that_writes_alone_leaves_the_collection_verified(test_settings, tmp_path):
    docs, chroma = small_docs(tmp_path / "docs"), tmp_path / "chroma"
    first = await ingest_into(chroma, docs, test_settings, bulk=True)
    assert settled_after_close(first, chroma)
    (docs / "doc-000.txt").write_text("Changed.")
    (docs / "doc-new.txt").write_text("New.")
    second = await ingest_into(chroma, docs, test_settings, bulk=True)
    assert settled_after_close(second, chroma)

    reads: list[str] = []
    store = open_store(chroma, reads)
    records = store.get_records("abstracts", [doc_id_for(p.name) for p in docs.iterdir()])
    store.close()
    assert reads == []  # every record, the rewritten and new ones too, cached at the revision
    assert records[doc_id_for("doc-000.txt")].content_hash == content_hash(b"Changed.")
    assert len(records) == DOCS + 1


async def test_a_run_beside_other_writers_leaves_the_collection_to_be_verified(
    test_settings, tmp_path
):
    docs, chroma = small_docs(tmp_path / "docs"), tmp_path / "chroma"
    serving = await ingest_into(chroma, docs, test_settings, bulk=False)  # docent serve's way
    assert not settled_after_close(serving, chroma)


async def test_a_document_whose_file_is_gone_keeps_the_collection_unverified(
    test_settings, tmp_path
):
    docs, chroma = small_docs(tmp_path / "docs"), tmp_path / "chroma"
    (await ingest_into(chroma, docs, test_settings, bulk=True)).close()
    (docs / "doc-000.txt").unlink()  # its record stays (no --sync), and is not looked up
    (docs / "doc-001.txt").write_text("Changed.")
    again = await ingest_into(chroma, docs, test_settings, bulk=True)
    assert not settled_after_close(again, chroma)


async def test_a_record_found_incomplete_keeps_the_collection_unverified(test_settings, tmp_path):
    docs, chroma = small_docs(tmp_path / "docs"), tmp_path / "chroma"
    store = await ingest_into(chroma, docs, test_settings, bulk=True)
    lost = store.chunk_ids_of("abstracts", doc_id_for("doc-000.txt"))
    store._chunks("abstracts").delete(ids=lost)  # behind Docent's back
    store.mark_verified("abstracts", "no longer the revision")
    store.close()
    again = await ingest_into(chroma, docs, test_settings, bulk=True)
    assert not settled_after_close(again, chroma)  # it wrote the chunks back; not proof


async def test_a_run_into_a_chroma_server_leaves_it_to_be_verified(
    test_settings, tmp_path, server_store
):
    # other processes may write a server at any moment: no claim keeps them out
    ingestor = Ingestor(server_store, FakeEmbedder(), test_settings, reader=InProcessReader())
    docs = small_docs(tmp_path / "docs")
    report = await ingest_paths(ingestor, [docs], collection="settled-server", bulk=True)
    assert report.ok
    assert not server_store.verification("settled-server")[1]

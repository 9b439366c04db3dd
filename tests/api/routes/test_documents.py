"""Documents: multipart upload through the real pipeline, list, delete, size limit."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from api.schemas import DocumentDeleted, DocumentsPublic, UploadPublic
from tests.api.conftest import COLLECTION
from tests.datasets import DATASETS

PDFS = DATASETS / "pdfs"


async def test_upload_mixed_files_reports_each(client: httpx.AsyncClient) -> None:
    encrypted = (PDFS / "pypdf-resources" / "crazyones-encrypted-256.pdf").read_bytes()
    files = [
        (
            "files",
            ("faq.md", b"# FAQ\n\nThe kettle boils one litre in three minutes.", "text/markdown"),
        ),
        ("files", ("../../etc/passwd.txt", b"Shipping is free above 50 EUR.", "text/plain")),
        ("files", ("locked.pdf", encrypted, "application/pdf")),
        ("files", ("empty.txt", b"", "text/plain")),
        ("files", ("tool.exe", b"MZ\x90\x00", "application/octet-stream")),
    ]
    response = await client.post("/v1/collections/uploads/documents", files=files)
    assert response.status_code == 200
    upload = UploadPublic.model_validate(response.json())
    by_name = {r.filename: r for r in upload.data}
    assert set(by_name) == {"faq.md", "passwd.txt", "locked.pdf", "empty.txt", "tool.exe"}
    assert by_name["faq.md"].status == "ingested"
    assert by_name["faq.md"].chunks >= 1
    assert by_name["passwd.txt"].status == "ingested"
    assert by_name["locked.pdf"].reason == "encrypted"
    assert by_name["empty.txt"].reason == "empty"
    assert by_name["tool.exe"].reason == "unsupported_type"
    assert (upload.ingested, upload.failed) == (2, 3)
    listed = DocumentsPublic.model_validate(
        (await client.get("/v1/collections/uploads/documents")).json()
    )
    assert sorted(d.source for d in listed.data) == ["faq.md", "passwd.txt"]


async def test_reupload_is_unchanged(client: httpx.AsyncClient) -> None:
    files = [("files", ("a.txt", b"Opening hours are nine to five.", "text/plain"))]
    first = await client.post(f"/v1/collections/{COLLECTION}/documents", files=files)
    second = await client.post(f"/v1/collections/{COLLECTION}/documents", files=files)
    assert first.json()["data"][0]["status"] == "ingested"
    assert second.json()["data"][0]["status"] == "unchanged"


async def test_delete_document(client: httpx.AsyncClient) -> None:
    files = [("files", ("hours.txt", b"Opening hours are nine to five.", "text/plain"))]
    uploaded = await client.post(f"/v1/collections/{COLLECTION}/documents", files=files)
    doc_id = uploaded.json()["data"][0]["doc_id"]
    listed = DocumentsPublic.model_validate(
        (await client.get(f"/v1/collections/{COLLECTION}/documents")).json()
    )
    target = next(d for d in listed.data if d.source == "hours.txt")
    assert target.doc_id == doc_id
    response = await client.delete(f"/v1/collections/{COLLECTION}/documents/{target.doc_id}")
    assert response.status_code == 200
    assert DocumentDeleted.model_validate(response.json()).chunks_removed == target.chunk_count
    again = await client.delete(f"/v1/collections/{COLLECTION}/documents/{target.doc_id}")
    assert again.status_code == 404
    assert again.json()["error"]["code"] == "document_not_found"


async def test_list_documents_unknown_collection_is_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/collections/ghost/documents")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "collection_not_found"


async def test_upload_without_files_is_422(client: httpx.AsyncClient) -> None:
    response = await client.post(f"/v1/collections/{COLLECTION}/documents", data={"x": "1"})
    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["loc"] == "body.files"


@pytest.mark.parametrize("api_settings", [{"max_upload_mb": 0.001}])
async def test_upload_over_limit_is_413(client: httpx.AsyncClient) -> None:
    files = [("files", ("big.txt", b"x" * 5000, "text/plain"))]
    response = await client.post(f"/v1/collections/{COLLECTION}/documents", files=files)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"
    assert "DOCENT_MAX_UPLOAD_MB" in response.json()["error"]["message"]


@pytest.mark.parametrize("api_settings", [{"max_upload_mb": 0.004}])
async def test_upload_over_limit_without_content_length_is_413(client: httpx.AsyncClient) -> None:
    # A chunked body has no Content-Length: the read budget catches it.
    async def body() -> AsyncIterator[bytes]:
        boundary = b"--b"
        for name in (b"a.txt", b"b.txt"):
            yield (
                boundary
                + b'\r\nContent-Disposition: form-data; name="files"; filename="'
                + name
                + b'"\r\nContent-Type: text/plain\r\n\r\n'
                + b"y" * 3000
                + b"\r\n"
            )
        yield boundary + b"--\r\n"

    response = await client.post(
        f"/v1/collections/{COLLECTION}/documents",
        content=body(),
        headers={"Content-Type": "multipart/form-data; boundary=b"},
    )
    assert response.status_code == 413


@pytest.mark.parametrize("api_settings", [{"max_upload_mb": 0.004}])
async def test_oversized_upload_is_refused_while_it_arrives(client: httpx.AsyncClient) -> None:
    # FastAPI parses (and spools to disk) a multipart body before the route runs: the limit
    # must stop the reading, not just judge what was read.
    sent = 0

    async def body() -> AsyncIterator[bytes]:
        nonlocal sent
        yield (
            b'--b\r\nContent-Disposition: form-data; name="files"; filename="big.txt"\r\n'
            b"Content-Type: text/plain\r\n\r\n"
        )
        for _ in range(200):  # 200 KB against a 4 KB limit
            sent += 1
            yield b"z" * 1024
        yield b"\r\n--b--\r\n"

    response = await client.post(
        f"/v1/collections/{COLLECTION}/documents",
        content=body(),
        headers={"Content-Type": "multipart/form-data; boundary=b"},
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"
    assert "DOCENT_MAX_UPLOAD_MB" in response.json()["error"]["message"]
    assert sent <= 6


@pytest.mark.parametrize("api_settings", [{"max_upload_mb": 0.001}])
async def test_upload_content_length_over_limit_reads_nothing(client: httpx.AsyncClient) -> None:
    pulled = 0

    async def body() -> AsyncIterator[bytes]:
        nonlocal pulled
        pulled += 1
        yield b"--b--\r\n" + b" " * 5000

    response = await client.post(
        f"/v1/collections/{COLLECTION}/documents",
        content=body(),
        headers={"Content-Type": "multipart/form-data; boundary=b", "Content-Length": "5007"},
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"
    assert pulled == 0


async def test_delete_in_an_unknown_collection_is_404_and_creates_nothing(
    client: httpx.AsyncClient, services
) -> None:
    # item 13: the 404 used to leave an empty "ghost--docs" bookkeeping collection behind
    response = await client.delete("/v1/collections/ghost/documents/0123456789abcdef")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "collection_not_found"
    raw_names = {c.name for c in services.store._client.list_collections()}
    assert not any(name.startswith("ghost") for name in raw_names)


@pytest.mark.parametrize(
    "doc_id", ["nope", "0123456789ABCDEF", "g0123456789abcde", "a" * 65, "x" * 300]
)
async def test_delete_with_a_malformed_document_id_is_400(
    client: httpx.AsyncClient, doc_id: str
) -> None:
    response = await client.delete(f"/v1/collections/{COLLECTION}/documents/{doc_id}")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_request"
    assert error["message"].startswith("Expected a document id of lowercase hex digits (16,")


async def test_repeated_names_in_one_upload_are_numbered(client: httpx.AsyncClient) -> None:
    files = [
        ("files", ("a/notes.txt", b"Notes from folder a.", "text/plain")),
        ("files", ("b/notes.txt", b"Notes from folder b.", "text/plain")),
    ]
    response = await client.post(f"/v1/collections/{COLLECTION}/documents", files=files)
    upload = UploadPublic.model_validate(response.json())
    assert [(r.filename, r.status) for r in upload.data] == [
        ("notes-2.txt", "ingested"),
        ("notes.txt", "ingested"),
    ]

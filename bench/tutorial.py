"""The LangChain tutorial's ingestion: ``python -m bench.tutorial HOST MODEL FOLDER STORE``.

``DirectoryLoader`` + ``RecursiveCharacterTextSplitter(1000, 200)`` +
``Chroma.from_documents(OllamaEmbeddings)``: the ten lines a user would write instead of
Docent. It is its own program so that ``bench ingest`` times it as it times ``docent
ingest``, start-up and imports included; it prints the pipeline's own seconds (imports
excluded) and its chunk count as JSON. Exit status 3: the ``bench`` extra is missing.
"""

from __future__ import annotations

import json
import sys
import time

try:
    from langchain_chroma import Chroma
    from langchain_community.document_loaders import DirectoryLoader, TextLoader
    from langchain_ollama import OllamaEmbeddings
    from langchain_text_splitters import RecursiveCharacterTextSplitter
except ImportError as missing:
    sys.stderr.write(f"the bench extra is not installed: {missing}\n")
    sys.exit(3)


def main(host: str, model: str, folder: str, store: str) -> None:
    started = time.perf_counter()
    docs = DirectoryLoader(folder, glob="*.txt", loader_cls=TextLoader).load()
    splitter = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200)
    splits = splitter.split_documents(docs)
    embeddings = OllamaEmbeddings(model=model, base_url=host)
    Chroma.from_documents(splits, embeddings, persist_directory=store)
    seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "chunks": len(splits)}))  # noqa: T201


if __name__ == "__main__":
    main(*sys.argv[1:5])

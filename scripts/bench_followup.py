"""Follow-up questions on XQuAD: recall@5 of the gold paragraph with and without the conversation.

The set: for each English XQuAD paragraph, a later question about it whose subject (the
article's topic: "Tesla", "the Normans", "Warsaw"...) is replaced by a pronoun ("What year
did he die?"), asked after the paragraph's first question. A second set checks the price
of the method when the user changes topic: an unchanged question asked after a question
about another article.

Usage: ``.venv/bin/python scripts/bench_followup.py [--mode hybrid] [--chunk-size 200]
[--per-paragraph 2]``. A paragraph counts as found when one of its chunks is in the top k.
Uses OLLAMA_HOST when set, otherwise starts the stand-in. About four minutes here.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ingest.reading import InProcessReader  # noqa: E402
from ingest.runtime import open_runtime  # noqa: E402
from ingest.service import ingest_paths  # noqa: E402
from retrieval.followup import (  # noqa: E402
    followup_queries,
    looks_like_followup,
    retrieval_query,
)
from retrieval.search import Searcher, SearchRequest, reciprocal_rank_fusion  # noqa: E402
from retrieval.settings import (  # noqa: E402
    ChunkingSettings,
    OllamaSettings,
    RetrievalMode,
    Settings,
)
from retrieval.store import ChunkStore  # noqa: E402
from retrieval.types import ChatMessage, Hit  # noqa: E402

XQUAD = REPO.parent / "shared" / "datasets" / "xquad" / "xquad.en.dev.json"
K = 5
COLLECTION = "xquad"

# (phrase, replacement, possessive replacement), tried in order; phrases match whole words.
SUBJECTS: dict[str, list[tuple[str, str, str]]] = {
    "Super_Bowl_50": [("Super Bowl 50", "it", "its"), ("the Super Bowl", "it", "its")],
    "Warsaw": [("in Warsaw", "there", "there"), ("Warsaw", "it", "its")],
    "Normans": [("the Normans", "they", "their"), ("Normans", "they", "their")],
    "Nikola_Tesla": [("Nikola Tesla", "he", "his"), ("Tesla", "he", "his")],
    "Computational_complexity_theory": [
        ("computational complexity theory", "it", "its"),
        ("complexity theory", "it", "its"),
    ],
    "Teacher": [("teachers", "they", "their"), ("a teacher", "they", "their")],
    "Martin_Luther": [("Martin Luther", "he", "his"), ("Luther", "he", "his")],
    "Southern_California": [
        ("in Southern California", "there", "there"),
        ("Southern California", "it", "its"),
    ],
    "Sky_(United_Kingdom)": [("BSkyB", "it", "its"), ("Sky UK", "it", "its"), ("Sky", "it", "its")],
    "Victoria_(Australia)": [("in Victoria", "there", "there"), ("Victoria", "it", "its")],
    "Huguenot": [("the Huguenots", "they", "their"), ("Huguenots", "they", "their")],
    "Steam_engine": [("steam engines", "they", "their"), ("steam engine", "it", "its")],
    "Oxygen": [("oxygen", "it", "its")],
    "1973_oil_crisis": [("the 1973 oil crisis", "it", "its"), ("the oil crisis", "it", "its")],
    "Apollo_program": [("the Apollo program", "it", "its"), ("Apollo", "it", "its")],
    "European_Union_law": [("European Union law", "it", "its"), ("EU law", "it", "its")],
    "Amazon_rainforest": [
        ("the Amazon rainforest", "it", "its"),
        ("the Amazon", "it", "its"),
        ("the rainforest", "it", "its"),
    ],
    "Ctenophora": [("ctenophores", "they", "their"), ("ctenophore", "it", "its")],
    "Fresno,_California": [("in Fresno", "there", "there"), ("Fresno", "it", "its")],
    "Packet_switching": [("packet switching", "it", "its")],
    "Black_Death": [("the Black Death", "it", "its"), ("the plague", "it", "its")],
    "Geology": [("geologists", "they", "their"), ("geology", "it", "its")],
    "Newcastle_upon_Tyne": [("in Newcastle", "there", "there"), ("Newcastle", "it", "its")],
    "Victoria_and_Albert_Museum": [
        ("the Victoria and Albert Museum", "it", "its"),
        ("the V&A", "it", "its"),
        ("the museum", "it", "its"),
    ],
}


@dataclass(frozen=True)
class Turn:
    """A question asked after ``previous`` (answered ``answer``); ``gold`` is its paragraph."""

    previous: str
    answer: str
    question: str
    original: str
    gold: str


def pronominalise(question: str, title: str) -> str | None:
    """``question`` with its subject replaced by a pronoun, or None when it names none."""
    for phrase, pronoun, possessive in SUBJECTS.get(title, []):
        pattern = re.compile(rf"\b{re.escape(phrase)}(?:'s|\u2019s)?(?!\w)", re.IGNORECASE)
        match = pattern.search(question)
        if match is None:
            continue
        before = question[: match.start()].split()
        after = question[match.end() :].split()
        if (before and (before[-1][:1].isupper() or before[-1].lower() == "the")) or (
            after and after[0][:1].isupper()
        ):
            return None  # part of a longer name ("Polonia Warsaw", "the Super Bowl 50 show")
        word = possessive if match.group(0).lower().endswith(("'s", "\u2019s")) else pronoun
        if match.start() == 0:
            word = word.capitalize()
        return question[: match.start()] + word + question[match.end() :]
    return None


def build_sets(per_paragraph: int) -> tuple[dict[str, str], list[Turn], list[Turn]]:
    """Paragraphs (source -> text), the follow-up set, and the topic-change set."""
    data = json.loads(XQUAD.read_text(encoding="utf-8"))["data"]
    paragraphs: dict[str, str] = {}
    followups: list[Turn] = []
    firsts: list[tuple[str, str, str, int]] = []  # question, answer, source, article
    standalone: list[tuple[str, str, int]] = []
    for a, article in enumerate(data):
        for p, paragraph in enumerate(article["paragraphs"]):
            source = f"a{a:02d}p{p}"
            paragraphs[source] = paragraph["context"]
            qas = paragraph["qas"]
            first = qas[0]
            firsts.append((first["question"], first["answers"][0]["text"], source, a))
            made = 0
            for qa in qas[1:]:
                changed = pronominalise(qa["question"].strip(), article["title"])
                if changed is None or made >= per_paragraph:
                    continue
                followups.append(
                    Turn(
                        first["question"].strip(),
                        first["answers"][0]["text"],
                        changed,
                        qa["question"].strip(),
                        source,
                    )
                )
                made += 1
            standalone += [(qa["question"].strip(), source, a) for qa in qas[1 : 1 + per_paragraph]]
    switches = []
    for i, (question, source, article) in enumerate(standalone):
        other = [f for f in firsts if f[3] != article]
        previous, answer, _, _ = other[(i * 7) % len(other)]
        switches.append(Turn(previous.strip(), answer, question, question, source))
    return paragraphs, followups, switches


def history_of(turn: Turn) -> list[ChatMessage]:
    return [ChatMessage("user", turn.previous), ChatMessage("assistant", turn.answer)]


Strategy = Callable[[Turn], list[str]]
"""The queries a strategy searches for (several are fused by RRF)."""

STRATEGIES: dict[str, Strategy] = {
    "original question (no pronoun), reference": lambda t: [t.original],
    "last message alone (before)": lambda t: [t.question],
    "previous user turn + message, always": lambda t: [f"{t.previous}\n{t.question}"],
    "previous turn + answer + message, always": lambda t: [
        f"{t.previous}\n{t.answer}\n{t.question}"
    ],
    "RRF of message alone and previous + message": lambda t: [
        t.question,
        f"{t.previous}\n{t.question}",
    ],
    "previous + message when it looks like a follow-up": lambda t: [
        retrieval_query(t.question, history_of(t))
    ],
    "RRF of both when it looks like a follow-up (shipped)": lambda t: list(
        followup_queries(t.question, history_of(t))
    ),
}


async def recall(
    searcher: Searcher, turns: list[Turn], strategy: Strategy, mode: str
) -> tuple[float, float]:
    """Recall@K and recall@1 of the gold paragraph."""
    at_k = at_1 = 0
    for turn in turns:
        rankings: list[list[Hit]] = []
        for query in strategy(turn):
            request = SearchRequest(query, COLLECTION, k=K, mode=mode)  # type: ignore[arg-type]
            rankings.append(await searcher.search(request))
        hits = rankings[0] if len(rankings) == 1 else reciprocal_rank_fusion(rankings, 60)[:K]
        sources = [hit.source.removesuffix(".txt") for hit in hits]
        at_k += turn.gold in sources
        at_1 += bool(sources) and sources[0] == turn.gold
    return at_k / len(turns), at_1 / len(turns)


def start_standin() -> tuple[subprocess.Popen[str] | None, str]:
    if os.environ.get("OLLAMA_HOST"):
        return None, os.environ["OLLAMA_HOST"]
    command = [sys.executable, "-m", "standin", "--host", "127.0.0.1", "--port", "0"]
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    line = process.stdout.readline()
    return process, line.rsplit(" ", 1)[-1].strip()


async def main(mode: RetrievalMode, per_paragraph: int, embed_model: str, chunk_size: int) -> None:
    paragraphs, followups, switches = build_sets(per_paragraph)
    process, host = start_standin()
    try:
        settings = Settings(
            ollama=OllamaSettings(host=host, embed_model=embed_model),
            chunking=ChunkingSettings(size=chunk_size, overlap=min(32, chunk_size // 4)),
        )
        async with open_runtime(
            settings, store=ChunkStore.ephemeral(), reader=InProcessReader()
        ) as runtime:
            with tempfile.TemporaryDirectory() as folder:
                for source, text in paragraphs.items():
                    (Path(folder) / f"{source}.txt").write_text(text, encoding="utf-8")
                started = time.perf_counter()
                report = await ingest_paths(runtime.ingestor, [folder], collection=COLLECTION)
                ingest_s = time.perf_counter() - started
            sets = (len(paragraphs), followups, switches)
            await measure(runtime.searcher, sets, report.chunks_added, ingest_s, mode, chunk_size)
    finally:
        if process is not None:
            process.terminate()
            process.wait(timeout=15)


async def measure(
    searcher: Searcher,
    sets: tuple[int, list[Turn], list[Turn]],
    chunks: int,
    ingest_s: float,
    mode: RetrievalMode,
    chunk_size: int,
) -> None:
    """Print recall of each strategy on the follow-up and topic-change sets."""
    paragraphs, followups, switches = sets
    gated = sum(looks_like_followup(t.question) for t in followups)
    false_positive = sum(looks_like_followup(t.question) for t in switches)
    print(
        f"{paragraphs} paragraphs ({chunks} chunks of {chunk_size} tokens) "
        f"ingested in {ingest_s:.0f} s; mode={mode}, k={K}; "
        f"{len(followups)} follow-ups ({gated} detected as such), "
        f"{len(switches)} topic changes ({false_positive} taken for follow-ups)\n"
    )
    print(f"| strategy | follow-ups R@{K} | R@1 | topic changes R@{K} | R@1 |")
    print("|---|---|---|---|---|")
    for name, strategy in STRATEGIES.items():
        followup_k, followup_1 = await recall(searcher, followups, strategy, mode)
        switch_k, switch_1 = await recall(searcher, switches, strategy, mode)
        cells = [followup_k, followup_1, switch_k, switch_1]
        print(f"| {name} | " + " | ".join(f"{cell:.3f}" for cell in cells) + " |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", default="hybrid", choices=["dense", "lexical", "hybrid"])
    parser.add_argument("--per-paragraph", type=int, default=2)
    parser.add_argument("--embed-model", default="all-minilm")
    parser.add_argument("--chunk-size", type=int, default=200)
    args = parser.parse_args()
    asyncio.run(main(args.mode, args.per_paragraph, args.embed_model, args.chunk_size))

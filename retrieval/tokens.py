"""Token counting in the vocabulary of the default embedding models.

all-minilm, nomic-embed-text, mxbai-embed-large and most small Ollama embedders use
the BERT uncased WordPiece vocabulary, shipped here as package data. Counts are exact for
those models and an estimate for others (other vocabularies split differently; keep a
margin below their context).
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

from tokenizers import Tokenizer, normalizers, pre_tokenizers, processors
from tokenizers.models import WordPiece

VOCAB_FILE = "bert-base-uncased-vocab.txt"
SPECIAL_TOKENS = 2
"""[CLS] and [SEP], which every BERT-style embedder adds around the text."""
SPECIAL_NAMES = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
"""Written in a text, the models' tokenizers read each as one token; counted here as its
three pieces (``[``, ``sep``, ``]``). An over-count, so never over a model's context; kept
because the chunks, and so the chunk ids of every existing store, depend on the counts."""


@lru_cache(maxsize=1)
def tokenizer() -> Tokenizer:
    """The BERT uncased WordPiece tokenizer (built once, without truncation)."""
    vocab_text = resources.files("retrieval").joinpath("data", VOCAB_FILE).read_text("utf-8")
    vocab = {token: index for index, token in enumerate(vocab_text.splitlines())}
    tok = Tokenizer(WordPiece(vocab, unk_token="[UNK]", max_input_chars_per_word=100))
    tok.normalizer = normalizers.BertNormalizer(
        clean_text=True, handle_chinese_chars=True, strip_accents=None, lowercase=True
    )
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])],
    )
    return tok


def count_tokens(text: str) -> int:
    """Number of tokens ``text`` takes in the embedding model, [CLS] and [SEP] included.

    Encoded as a batch of one: ``Tokenizer.encode`` holds the GIL for the whole encoding
    (about 9 ms for 2,300 tokens here), stalling the server's event loop while a worker
    thread builds a prompt; ``encode_batch`` releases it.
    """
    return len(tokenizer().encode_batch([text])[0].ids)


def count_tokens_batch(texts: list[str]) -> list[int]:
    """:func:`count_tokens` for many texts at once (parallel inside ``tokenizers``)."""
    return [len(enc.ids) for enc in tokenizer().encode_batch(texts)]

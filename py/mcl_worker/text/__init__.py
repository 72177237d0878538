"""Tokenizers for the CLIP text tower: OpenAI's BPE (from a vocabulary file the user gives)
and a word-level one for synthetic captions; both give fixed-length TokenBatches."""

from .bpe import BpeTokenizer
from .tokens import TokenBatch, Tokenizer, TokenizerError, tokenize
from .words import WordTokenizer, split_words

__all__ = ["BpeTokenizer", "TokenBatch", "Tokenizer", "TokenizerError", "WordTokenizer", "split_words", "tokenize"]

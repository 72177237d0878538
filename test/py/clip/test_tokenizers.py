"""The BPE tokenizer (on a small merges file in the standard format) and the word tokenizer."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from mcl_worker.errors import InvalidArgument
from mcl_worker.text import BpeTokenizer, TokenizerError, WordTokenizer, tokenize
from mcl_worker.text.bpe import byte_symbols

MERGES = ["t h", "th e</w>", "r e", "re d</w>", "c a", "ca t</w>"]


def write_vocab(path: Path, merges: list[str]) -> Path:
    text = "\n".join(["#version: 0.2", *merges]) + "\n"
    if path.suffix == ".gz":
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)
    return path


@pytest.mark.parametrize("name", ["vocab.txt.gz", "vocab.txt"])
def test_bpe_applies_the_merges_in_rank_order(tmp_path: Path, name: str) -> None:
    bpe = BpeTokenizer(write_vocab(tmp_path / name, MERGES))
    assert bpe.vocab_size == 256 * 2 + len(MERGES) + 2
    assert (bpe.sot, bpe.eot) == (bpe.vocab_size - 2, bpe.vocab_size - 1)
    merged = {piece: 512 + rank for rank, piece in enumerate(m.replace(" ", "") for m in MERGES)}
    # "the", "red", "cat" are single merged tokens; "  The  RED&amp;" is cleaned and lower-cased.
    assert bpe.encode("  The  RED cat ") == [merged["the</w>"], merged["red</w>"], merged["cat</w>"]]
    symbols = byte_symbols()
    assert len(set(symbols.values())) == 256 and symbols[ord("a")] == "a" and symbols[ord(" ")] == chr(256 + 32)
    # An unmerged word is its bytes, the last with the end-of-word mark; punctuation is its own word.
    assert bpe.encode("dog!") == [bpe.encoder["d"], bpe.encoder["o"], bpe.encoder["g</w>"], bpe.encoder["!</w>"]]
    assert bpe.encode("&amp;") == [bpe.encoder["&</w>"]]


def test_a_missing_vocabulary_names_the_path_and_where_to_get_it(tmp_path: Path) -> None:
    with pytest.raises(TokenizerError) as error:
        BpeTokenizer(tmp_path / "bpe_simple_vocab_16e6.txt.gz")
    assert error.value.field == "tokenizer.vocab" and error.value.code == "INVALID_BODY"
    assert str(tmp_path / "bpe_simple_vocab_16e6.txt.gz") in error.value.message
    assert "open_clip" in error.value.message
    with pytest.raises(TokenizerError, match="not a BPE merges file"):
        BpeTokenizer(write_vocab(tmp_path / "bad.txt", ["a b c"]))


PNG_START = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe"


@pytest.mark.parametrize(
    ("name", "content", "problem"),
    [
        ("readme.txt", b"# My project\nIt tokenizes text.\nSee the docs.\n", "line 2 ('It tokenizes text.') is not two symbols"),
        ("words.txt", b"#version: 0.2\nhello world\n", "line 2 ('hello world') joins 'hello', which no earlier line makes"),
        ("middle.txt", b"#version: 0.2\nt h\n\nth e</w>\n", "line 3 ('') is not two symbols"),
        ("header-only.txt", b"#version: 0.2\n", "holds no merges after its header line"),
        ("empty.txt.gz", b"", "is empty"),
        ("empty-inside.txt.gz", gzip.compress(b""), "is empty"),
        ("blank.txt", b" \n\n", "is empty"),
        ("image.png", PNG_START, "is not UTF-8 text (byte 0 is 0x89)"),
        ("image.txt.gz", gzip.compress(PNG_START), "is not UTF-8 text (byte 0 is 0x89)"),
        ("json.txt.gz", gzip.compress(b'{"vocab": 1}\n{"merges": []}'), "line 2 ('{\"merges\": []}') joins '{\"merges\":'"),
        ("cut.txt.gz", gzip.compress(b"#version: 0.2\nt h\n" * 100)[:40], "cannot be read as a gzip file"),
    ],
)
def test_a_file_that_is_not_a_vocabulary_is_refused_naming_it(tmp_path: Path, name: str, content: bytes, problem: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(TokenizerError) as error:
        BpeTokenizer(path)
    assert error.value.field == "tokenizer.vocab" and error.value.code == "INVALID_BODY"
    assert f"{path} " in error.value.message and problem in error.value.message
    assert "bpe_simple_vocab_16e6.txt.gz" in error.value.message  # where to get the right file


def test_gzip_is_recognised_by_content_not_name(tmp_path: Path) -> None:
    plain = BpeTokenizer(write_vocab(tmp_path / "vocab.txt", MERGES))
    hidden = tmp_path / "vocab.bin"
    hidden.write_bytes(gzip.compress((tmp_path / "vocab.txt").read_bytes()))
    assert BpeTokenizer(hidden).encoder == plain.encoder


@pytest.mark.parametrize("caption", [None, 3, 2.5, b"a red cat", ["a", "cat"]])
def test_a_text_that_is_not_a_str_is_refused_naming_its_index(tmp_path: Path, caption: object) -> None:
    bpe = BpeTokenizer(write_vocab(tmp_path / "vocab.txt", MERGES))
    with pytest.raises(InvalidArgument) as error:
        tokenize(bpe, ["the cat", caption], context_length=8)  # type: ignore[list-item]
    assert error.value.field == "texts[1]" and type(caption).__name__ in error.value.message
    assert "str" in error.value.message
    with pytest.raises(InvalidArgument, match="^texts: must be a list of str, got a single str; wrap it in a list"):
        tokenize(bpe, "the cat", context_length=8)


def test_special_tokens_written_in_a_caption_are_the_special_ids(tmp_path: Path) -> None:
    bpe = BpeTokenizer(write_vocab(tmp_path / "vocab.txt", MERGES))
    the, cat = bpe.encoder["the</w>"], bpe.encoder["cat</w>"]
    assert bpe.encode("the <|endoftext|>cat") == [the, bpe.eot, cat]
    assert bpe.encode("&lt;|STARTOFTEXT|&gt;the") == [bpe.sot, the]
    # Only the whole token is special: its pieces are ordinary punctuation and letters.
    assert bpe.encode("<|endoftext") == [bpe.encoder["<"], bpe.encoder["|</w>"], *bpe.encode("endoftext")]
    assert bpe.eot not in bpe.encode("endoftext|>")


def test_words_are_numbered_in_sorted_order_whatever_the_caption_order() -> None:
    a = WordTokenizer.from_captions(["a red polka-dot ring", "an orange solid star"])
    b = WordTokenizer.from_captions(["an orange solid star", "a red polka-dot ring", "a red polka-dot ring"])
    assert a.words == b.words == ["a", "an", "orange", "polka-dot", "red", "ring", "solid", "star"]
    assert a.encode("a red ring") == [1, 5, 6]
    assert (a.unk, a.sot, a.eot, a.vocab_size) == (9, 10, 11, 12)
    assert a.encode("a green ring") == [1, a.unk, 6] and a.unknown("a green ring") == ["green"]
    with pytest.raises(TokenizerError):
        WordTokenizer.from_captions(["  ", ""])


def test_long_captions_are_cut_to_the_context_and_counted() -> None:
    words = WordTokenizer.from_captions(["a red polka-dot ring"])
    batch = tokenize(words, ["a red polka-dot ring", "a ring"], context_length=5)
    assert batch.truncated == 1
    assert batch.tokens.tolist() == [[words.sot, 1, 3, 2, words.eot], [words.sot, 1, 4, words.eot, 0]]
    assert tokenize(words, ["a red polka-dot ring"], context_length=6).truncated == 0

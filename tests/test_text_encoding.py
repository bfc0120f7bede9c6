"""Tokenisers, the vocabulary's limits and the text encoders, on hand-checked examples."""

from __future__ import annotations

import pytest
import torch

from reportgen.data.encoding import BOW, EOW, TextEncoder
from reportgen.data.tokenize import byte_tokens, char_tokens, tokenize, word_tokens
from reportgen.data.vocab import PAD, UNK, Vocab


def test_word_tokens_split_punctuation_and_clitics_like_mr() -> None:
    assert word_tokens("It's NOT good, isn't it? A well-made film.") == [
        "it", "'s", "not", "good", ",", "is", "n't", "it", "?", "a", "well-made", "film", ".",
    ]
    assert word_tokens("Don't", lowercase=False) == ["Do", "n't"]


def test_char_and_byte_tokens() -> None:
    assert char_tokens("Ab c") == ["A", "b", " ", "c"]
    assert char_tokens("Ab", lowercase=True) == ["a", "b"]
    assert byte_tokens("aé") == ["a", "\\xc3", "\\xa9"]  # é is two UTF-8 bytes
    with pytest.raises(ValueError, match="word, char, byte"):
        tokenize("x", "subword")  # type: ignore[arg-type]


def test_vocab_min_frequency_size_limit_and_order() -> None:
    texts = [["b", "a", "c"], ["a", "b"], ["a", "d"]]  # a:3, b:2, c:1, d:1
    assert Vocab.build(texts).itos == [PAD, UNK, "a", "b", "c", "d"]  # ties alphabetical
    assert Vocab.build(texts, min_freq=2).itos == [PAD, UNK, "a", "b"]
    assert Vocab.build(texts, max_size=3).itos == [PAD, UNK, "a"]  # the size counts <pad>, <unk>
    vocab = Vocab.build(texts, min_freq=2)
    assert vocab.encode(["a", "zzz", "b"]) == [2, 1, 3]
    with pytest.raises(ValueError):
        Vocab(["a", "b"])


def test_word_encoder_pads_truncates_and_masks() -> None:
    enc = TextEncoder.fit("word", ["a b c", "a b", "a"], max_len=2)
    batch = enc.encode(["a b c", "c zzz", "b"])
    assert batch.tokens == [["a", "b"], ["c", "zzz"], ["b"]]  # cut to max_len tokens
    assert batch.ids.tolist() == [[2, 3], [4, 1], [3, 0]]  # a=2 b=3 c=4, unknown=1, pad=0
    assert batch.mask.tolist() == [[True, True], [True, True], [True, False]]
    assert enc.encode(["a"], min_len=5).ids.shape == (1, 5)


def test_word_chars_encoder_spells_words_with_markers() -> None:
    enc = TextEncoder.fit("word_chars", ["ab ba"])
    batch = enc.encode(["ab", "b"])
    assert batch.ids.shape == (2, 1, enc.max_word_len + 2)
    spelled = enc.char_vocab.decode(batch.ids[0, 0, :4].tolist())
    assert spelled == [BOW, "a", "b", EOW]
    assert batch.mask.tolist() == [[True], [True]]


def test_byte_encoder_and_round_trip_through_plain_data() -> None:
    enc = TextEncoder.fit("byte", [])
    assert enc.encode(["hé"]).ids.tolist() == [[ord("h") + 1, 0xC3 + 1, 0xA9 + 1]]
    assert (enc.n_tokens == 257 and enc.token_text(ord("h") + 1) == "h"
            and enc.token_text(0xC3 + 1) == "\\xc3")
    word = TextEncoder.fit("word", ["x y"], max_len=7)
    again = TextEncoder.from_dict(word.to_dict())
    assert torch.equal(again.encode(["y x q"]).ids, word.encode(["y x q"]).ids)
    assert again.max_len == 7

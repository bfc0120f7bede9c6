"""Transformers sequence classifiers behind the model adapter (optional extra ``reportgen[hf]``).

``hf:DIR_OR_NAME`` loads ``AutoTokenizer`` + ``AutoModelForSequenceClassification``. The split
forward uses the model's ``inputs_embeds`` argument, so gradients reach the word-piece embeddings;
position and type embeddings are added inside the model, as in its own forward. Class names come
from ``config.id2label``. Loading never runs remote code (``trust_remote_code=False``).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from reportgen.data.encoding import EncodedBatch
from reportgen.errors import BadInput
from reportgen.models.adapter import ModelAdapter


class HFAdapter(ModelAdapter):
    def __init__(self, name_or_dir: str, *, source: str, device: torch.device | str, max_len: int = 128):
        try:
            from transformers import AutoModelForSequenceClassification, AutoTokenizer
        except ImportError:
            raise BadInput(
                f"model {source!r} needs the Transformers library: pip install 'reportgen[hf]'"
            ) from None
        try:
            tokenizer = AutoTokenizer.from_pretrained(name_or_dir)
            model = AutoModelForSequenceClassification.from_pretrained(name_or_dir)
        except (OSError, ValueError) as exc:
            raise BadInput(f"cannot load Transformers model {name_or_dir!r}: {str(exc).splitlines()[0]}") from None
        id2label = model.config.id2label or {}
        classes = [str(id2label.get(i, i)) for i in range(model.config.num_labels)]
        self.tokenizer = tokenizer
        self.max_len = max_len
        super().__init__(
            model,
            encoder=None,  # type: ignore[arg-type]  # the tokenizer encodes
            classes=classes,
            name=name_or_dir.rstrip("/").split("/")[-1],
            arch=f"hf:{model.config.model_type}",
            source=source,
            device=device,
        )

    def encode(self, texts: Sequence[str]) -> EncodedBatch:
        enc = self.tokenizer(
            list(texts), padding=True, truncation=True, max_length=self.max_len, return_tensors="pt"
        )
        ids = enc["input_ids"]  # (B, T)
        tokens = [self.tokenizer.convert_ids_to_tokens(row[m.bool()]) for row, m in zip(ids, enc["attention_mask"], strict=True)]
        return EncodedBatch(ids.to(self.device), tokens, enc["attention_mask"].bool().to(self.device))

    def embed(self, ids: torch.Tensor) -> torch.Tensor:
        return self.module.get_input_embeddings()(ids)

    def forward_from_embeddings(self, emb: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.module(inputs_embeds=emb, attention_mask=mask.long()).logits

    def forward(self, batch: EncodedBatch) -> torch.Tensor:
        assert batch.mask is not None
        return self.module(input_ids=batch.ids, attention_mask=batch.mask.long()).logits

    @property
    def vocab_size(self) -> int:
        return len(self.tokenizer)

    def fingerprint(self) -> str:
        return super().fingerprint() + str(len(self.tokenizer))

    def conv_chains(self) -> list[list[str]]:
        return []

    def token_vectors(self) -> tuple[list[str], torch.Tensor, list[bool], str]:
        weight = self.module.get_input_embeddings().weight.detach()  # (V, E)
        special = set(self.tokenizer.all_special_ids)
        n = weight.size(0)
        texts = [str(t) for t in self.tokenizer.convert_ids_to_tokens(list(range(n)))]
        return texts, weight, [i in special for i in range(n)], "embedding"

    def layer_states(self, batch: EncodedBatch) -> dict[str, torch.Tensor]:
        """``embeddings`` and ``layer.<i>``: every layer's hidden states (B, T, H)."""
        assert batch.mask is not None
        with torch.no_grad():
            out = self.module(input_ids=batch.ids, attention_mask=batch.mask.long(),
                              output_hidden_states=True)
        states = out.hidden_states
        return {("embeddings" if i == 0 else f"layer.{i}"): h for i, h in enumerate(states)}

    def display_tokens(self, batch: EncodedBatch) -> list:
        """Word pieces: '##ble' (WordPiece) is shown as 'ble' joined to the piece before; 'Ġword'
        (byte BPE) and '▁word' (SentencePiece) start a new word."""
        from reportgen.models.internals import TokenText

        special = set(self.tokenizer.all_special_tokens)
        bpe = self._bpe_marks
        rows = []
        for toks in batch.tokens:
            row = []
            for t in toks:
                if t in special:
                    row.append(TokenText(t, False, True))
                elif t.startswith("##"):
                    row.append(TokenText(t[2:], True, False))
                elif t.startswith(("Ġ", "▁")):
                    row.append(TokenText(t[1:], False, False))
                else:
                    row.append(TokenText(t, bpe and bool(row) and not row[-1].special, False))
            rows.append(row)
        return rows

    @property
    def _bpe_marks(self) -> bool:
        """True when the tokenizer marks word *starts* (Ġ / ▁), so unmarked pieces continue a word."""
        vocab = self.tokenizer.get_vocab()
        return any(t.startswith(("Ġ", "▁")) for t in list(vocab)[:2000])

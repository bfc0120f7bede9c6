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

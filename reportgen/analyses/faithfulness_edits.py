"""Re-scoring edited texts for ``faithfulness``: p(y) after deleting tokens, or keeping them alone.

Question: how much does the probability of the predicted class fall when an attribution's top
tokens are deleted (comprehensiveness) or kept alone (sufficiency; DeYoung et al. 2020)?

Method: every edit of a batch is a (text, positions, keep) triple; the kept token ids are moved
left and re-padded with the model's pad id, so no text is re-tokenised (all edits of a batch at
once, as numpy masks and one gather). Edits run longest first in
chunks of the batch's size, each chunk cut to the width of its own longest edit.

Outputs: one probability per edit, in the order given. Cost: one forward pass per edit, in chunks
of the batch size (memory stays that of one batch); for a model whose first layers are
convolutions over the token embeddings, those layers are table lookups of the batch's tokens
(``reportgen.models.conv_lookup``, proven against the model on the first chunk).
"""

from __future__ import annotations

import numpy as np
import torch

from reportgen.models.conv_lookup import EditScorer
from reportgen.models.view import ModelView


@torch.no_grad()
def probability(model: ModelView, batch, tops: list[list[int]], keep: bool,
                 target: torch.Tensor, special: list[list[bool]]) -> np.ndarray:
    """(B,) p(target) after deleting the ``tops`` positions of each text (``keep``: after deleting
    all the other real tokens but ``special`` ones)."""
    edits = [(b, tuple(top), keep) for b, top in enumerate(tops)]
    return edited_probabilities(model, batch, edits, target, special)


@torch.no_grad()
def edited_probabilities(model: ModelView, batch, edits: list[tuple[int, tuple[int, ...], bool]],
                          target: torch.Tensor, special: list[list[bool]]) -> np.ndarray:
    """(len(edits),) p(target of text b) for each edit (b, positions, keep) of the batch's text b:
    ``positions`` deleted (``keep``: every other real token but ``special`` ones deleted), the
    rest moved left and re-padded with the model's pad id. Run in chunks of the batch's size, so
    memory stays that of one batch however many edits there are."""
    ids = batch.ids  # (B, T), or (B, T, C) for spelled words
    width = ids.size(1)
    if not edits:
        return np.zeros(0)
    # every edit's kept positions as one (E, T) mask, built in numpy (no tensor per edit)
    lengths = np.array([len(t) for t in batch.tokens])  # (B,)
    real = np.arange(width)[None, :] < lengths[:, None]  # (B, T)
    specials = np.zeros_like(real)
    for b, row in enumerate(special):
        specials[b, : len(row)] = row
    owner = np.array([b for b, _, _ in edits])  # (E,)
    keep = np.array([k for _, _, k in edits])[:, None]  # (E, 1)
    chosen = np.zeros((len(edits), width), dtype=bool)  # (E, T)
    chosen[np.repeat(np.arange(len(edits)), [len(p) for _, p, _ in edits]),
           np.array([i for _, p, _ in edits for i in p], dtype=np.int64)] = True
    kept_mask = np.where(keep, chosen | (specials[owner] & real[owner]), real[owner] & ~chosen)
    kept = kept_mask.sum(1)  # (E,)
    # the kept tokens moved left in their order, the rest padded with the model's pad id
    moved = np.argsort(~kept_mask, axis=1, kind="stable")  # (E, T): kept positions first
    new_all = ids.cpu().numpy()[owner[:, None], moved]  # (E, T) or (E, T, C)
    mask_all = np.arange(width)[None, :] < kept[:, None]  # (E, T)
    new_all[~mask_all] = model.pad_id
    # longest edits first, so each chunk is cut to the width of its own longest edit
    order = np.argsort(-kept, kind="stable")
    scorer = EditScorer(model, ids)  # first-layer convolutions as lookups, where proven
    out = []
    for lo in range(0, len(edits), max(1, ids.size(0))):
        part = order[lo : lo + ids.size(0)]
        new_ids = torch.from_numpy(new_all[part]).to(ids.device)  # (C, T)
        new_mask = torch.from_numpy(mask_all[part]).to(ids.device)  # (C, T)
        if model.min_len > 1:  # keep the width the model needs
            new_ids = new_ids[:, : max(model.min_len, int(kept[part].max()))]
            new_mask = new_mask[:, : new_ids.size(1)]
        else:
            cut = max(1, int(kept[part].max()))
            new_ids, new_mask = new_ids[:, :cut], new_mask[:, :cut]
        logits = scorer.logits(new_ids, new_mask)  # (C, K)
        probs = torch.softmax(logits.float(), -1)
        chosen_target = target[torch.from_numpy(owner[part]).to(target.device)]  # (C,)
        out.append(probs.gather(1, chosen_target[:, None])[:, 0].cpu().numpy())
    result = np.empty(len(edits))
    result[order] = np.concatenate(out)  # back in the order the edits were given
    return result

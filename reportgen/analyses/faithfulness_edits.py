"""Re-scoring edited texts for ``faithfulness``: p(y) after deleting tokens, or keeping them alone.

Question: how much does the probability of the predicted class fall when an attribution's top
tokens are deleted (comprehensiveness) or kept alone (sufficiency; DeYoung et al. 2020)?

Method: every edit of a batch is a (text, positions, keep) triple; the kept token ids are moved
left and re-padded with the model's pad id, so no text is re-tokenised. Edits run longest first in
chunks of the batch's size, each chunk cut to the width of its own longest edit.

Outputs: one probability per edit, in the order given. Cost: one forward pass per edit, in chunks
of the batch size (memory stays that of one batch).
"""

from __future__ import annotations

import numpy as np
import torch

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
    ids = batch.ids  # (B, T)
    width = ids.size(1)
    # longest edits first, so each chunk is cut to the width of its own longest edit
    kept = [len(p) + sum(special[b]) if keep else len(batch.tokens[b]) - len(p)
            for b, p, keep in edits]
    order = sorted(range(len(edits)), key=lambda e: -kept[e])
    edits = [edits[e] for e in order]
    out = []
    for lo in range(0, len(edits), max(1, ids.size(0))):
        rows, masks, rows_target = [], [], []
        for b, positions, keep in edits[lo : lo + ids.size(0)]:
            chosen = set(positions)
            n = len(batch.tokens[b])
            if keep:
                keep_pos = [i for i in range(n) if i in chosen or special[b][i]]
            else:
                keep_pos = [i for i in range(n) if i not in chosen]
            index = torch.tensor(keep_pos + [width - 1] * (width - len(keep_pos)),
                                 device=ids.device)
            row = ids[b].index_select(0, index).clone()
            m = torch.zeros(width, dtype=torch.bool, device=ids.device)
            m[: len(keep_pos)] = True
            row[len(keep_pos):] = model.pad_id
            rows.append(row)
            masks.append(m)
            rows_target.append(b)
        new_ids, new_mask = torch.stack(rows), torch.stack(masks)  # (C, T)
        if model.min_len > 1:  # keep the width the model needs
            new_ids = new_ids[:, : max(model.min_len, int(new_mask.sum(1).max()))]
            new_mask = new_mask[:, : new_ids.size(1)]
        else:
            cut = max(1, int(new_mask.sum(1).max()))
            new_ids, new_mask = new_ids[:, :cut], new_mask[:, :cut]
        logits = model.forward_from_embeddings(model.embed(new_ids), new_mask)  # (C, K)
        probs = torch.softmax(logits.float(), -1)
        chosen_target = target[torch.tensor(rows_target, device=target.device)]  # (C,)
        out.append(probs.gather(1, chosen_target[:, None])[:, 0].cpu().numpy())
    if not out:
        return np.zeros(0)
    result = np.empty(len(edits))
    result[order] = np.concatenate(out)  # back in the order the edits were given
    return result

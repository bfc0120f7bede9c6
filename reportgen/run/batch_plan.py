"""The batch plan of a run: one object that says, per model, how many texts go in a batch and why.

Made once from ``--batch-size`` (``reportgen.batching.resolve_batch_sizes`` probes memory for
``auto``); the runner reads a model's size from it and, when an analysis runs out of GPU memory and
halves its batch, records the smaller size and the reason here, where the rest of the run and the
report (``config.resolved.batch_sizes``) read it.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class BatchPlan:
    default: int = 64  # for a model the plan does not list (already 1 for one never padded)
    sizes: dict[str, int] = field(default_factory=dict)  # model name -> its batch size now
    reasons: dict[str, str] = field(default_factory=dict)  # model name -> how it was chosen
    # models sized by --batch-size auto (not under torchrun) -> the size the probe chose (before
    # any halving); a halving is remembered for these only
    probed: dict[str, int] = field(default_factory=dict)

    @classmethod
    def from_choices(cls, choices: dict, default: int, auto: bool) -> BatchPlan:
        """From ``batching.resolve_batch_sizes``'s ``BatchChoice`` per model."""
        return cls(default=default, sizes={n: c.size for n, c in choices.items()},
                   reasons={n: c.reason for n, c in choices.items()},
                   probed={n: c.size for n, c in choices.items()} if auto else {})

    def size(self, model: object) -> int:
        """The model's batch size: planned for this run, else the default (1 if never padded)."""
        name = model.name  # type: ignore[attr-defined]
        if name in self.sizes:
            return self.sizes[name]
        return self.default if model.pad_batches else 1  # type: ignore[attr-defined]

    def is_auto(self, name: str) -> bool:
        return name in self.probed

    def change(self, name: str, size: int, why: str) -> None:
        """From now on ``name`` runs ``size`` texts per batch; ``why`` joins its reasons."""
        self.sizes[name] = size
        self.reasons[name] = "; ".join(filter(None, [self.reasons.get(name), why]))

"""Length-grouped batches, shared by fine-tuning (finetune/data.py) and the biLM's sentence
mode (lm/data.py): little padding, and no epoch sees the data sorted."""

from __future__ import annotations


def group_by_length(order: list[int], lengths, batch_size: int, mega: int) -> list[list[int]]:
    """Cut a shuffled `order` into mega-batches of `mega * batch_size` indices, sort each by
    length (longest first) and cut it into batches. The caller shuffles the batches with its
    own generator (HF's `group_by_length` uses mega-batches of 50 the same way)."""
    step, batches = mega * batch_size, []
    for m in range(0, len(order), step):
        group = sorted(order[m:m + step], key=lambda i: -lengths[i])
        batches += [group[i:i + batch_size] for i in range(0, len(group), batch_size)]
    return batches

"""BERT fine-tuning on GLUE tasks and custom labelled datasets.

    nlplab finetune --task SST-2 --data-dir ../shared/data/glue --model minilm -o runs/sst2-minilm

config.py (FinetuneConfig, per-task presets, model resolution) -> data.py (read, tokenize
once, length-grouped batches, dynamic padding) -> train.py (the training loop, one function).
ELMo task models (--model bilm:LM_RUN / bilstm:LM_RUN): elmo.py (scalar mix + BiLSTM head),
elmo_data.py (the LM run as a tokenizer, its biLM's layers computed once and cached).
"""

from nlplab.finetune.config import FinetuneConfig

__all__ = ["FinetuneConfig"]

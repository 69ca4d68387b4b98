"""Pretraining encoders on a corpus: masked LM (BERT/RoBERTa) and ELECTRA.

    nlplab pretrain CORPUS -o RUN --tokenizer SUBWORD_DIR --objective electra --size mini

data.py: the tokenized, packed, masked corpus; model.py: the two objectives on HF modules.
"""

"""Hyperparameter sweeps over `nlplab finetune`: grid or random search, mean ± std over seeds.

    nlplab sweep nlplab/configs/sweeps/sst2-minilm.yaml -o runs/sweeps/sst2 [--gpus auto] [--resume]

spec.py (the sweep file, checked whole; grid and random expansion) -> run.py (trials in this
process, or a pool of one worker per GPU) -> results.py (aggregation, sweep.json/tsv, the
table); commands.py holds the parser.
"""

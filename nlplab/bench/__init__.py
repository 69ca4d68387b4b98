"""Whole-suite runs: `nlplab bench` fine-tunes a model on every task of a suite (GLUE, the
Korean tasks) and hands back the scores, a report and, for GLUE, a checked submission zip.

    nlplab bench glue --model minilm --data-dir ../shared/data/glue -o runs/bench --seeds 1,2,3 [--gpus auto]

config.py (BenchConfig, saved as DIR/bench.yaml; the --config file of per-task overrides)
-> plan.py (the tasks found or missing, one `nlplab finetune` config per task and seed, all
checked before anything runs) -> the sweep's worker pool (nlplab/sweep/run.py: in this
process, or one run per GPU) -> results.py (bench.json, bench.tsv, mean ± std, the suite
score) -> outputs.py (majority-class tasks, report.html, submission.zip); commands.py holds
the parser. The suite's rules (MNLI predicts AX, WNLI is the majority class, RTE/MRPC/STS-B
may start from MNLI) are fields of the task table, nlplab/glue/tasks.py.
"""

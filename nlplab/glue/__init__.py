"""GLUE harness: every task's data (classic folders, the HF hub, or any labelled
TSV/CSV/JSONL set), its metrics, baselines, dev scores, a checked leaderboard zip.

    nlplab glue baseline --kind tfidf-logreg --data-dir glue_data -o runs/tfidf
    nlplab glue score runs/tfidf --data-dir glue_data
    nlplab glue report runs/majority runs/tfidf --data-dir glue_data --html report.html
    nlplab glue submit runs/tfidf -o submission.zip --data-dir glue_data --fill-missing majority
    nlplab glue check submission.zip --data-dir glue_data

tasks.py (the table of tasks) -> data.py (readers) -> metrics.py -> submission.py
(prediction files, the zip, its check) -> report.py (tables) ; baselines.py writes predictions.
"""

from nlplab.glue.data import Custom, Glue, Split
from nlplab.glue.tasks import BOARDS, SCORED_TASKS, TASKS, Board, Task

__all__ = ["Glue", "Custom", "Split", "TASKS", "BOARDS", "SCORED_TASKS", "Task", "Board"]

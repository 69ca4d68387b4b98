"""What every training command shares (`nlplab finetune`, `nlplab lm train`, and the ones to
come), as plain functions their `run()` calls top to bottom, in the spirit of torchtune's
training utilities and litgpt's utils/args. No Trainer class: the loops stay in the commands.

    config.py      TrainConfig: the fields every command has, one validation; how a command
                   builds its config (defaults < preset < the run's config.yaml on --resume <
                   --config FILE < flags), the resume-free fields, --config/--progress/--nproc
    optim.py       seed_everything, precision (autocast, loss scaling), make_optimizer, make_schedule
    checkpoint.py  the run folder (checks, --force, --resume, the kept cache), the global batch,
                   the checkpoint format (named keys, tensor-only RNG state, atomic save,
                   weights_only=True load)
    logs.py        train.log, environment.json, metrics.jsonl, TensorBoard, MLflow; the
                   evaluation history (best score, evaluations since)

config.py imports no torch, so a command's --help costs none.
"""

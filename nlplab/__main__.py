"""`python -m nlplab ...` (and `torchrun -m nlplab ...`) run the CLI."""
import sys

from nlplab.cli import main

sys.exit(main())

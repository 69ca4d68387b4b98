"""Run the nlplab CLI from a checkout: `python cli.py preprocess ...` == `nlplab preprocess ...`."""
import sys

from nlplab.cli import main

if __name__ == "__main__":
    sys.exit(main())

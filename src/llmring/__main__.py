"""``python -m llmring``: the command line, as the ``llmring`` script runs it."""

from llmring.cli import main

main()

"""``python -m mmharness`` = the ``mmh`` command (also used under torchrun)."""

from .cli import main

main()

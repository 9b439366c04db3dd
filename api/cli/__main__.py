"""``python -m api.cli``: the ``docent`` command."""

from api.cli import main

main()

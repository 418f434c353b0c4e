"""``python -m pipetest_nb.views.cli``: the ``pipetest`` command."""

import sys

from pipetest_nb.views.cli.main import main

sys.exit(main())

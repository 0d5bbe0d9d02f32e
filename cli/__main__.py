"""`python -m llada_tui.cli`: the `llada-tui` command."""

import sys

from llada_tui.cli.main import main

sys.exit(main())

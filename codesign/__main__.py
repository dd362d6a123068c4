"""``python -m codesign``: the command line."""

import sys

from codesign.cli import main

sys.exit(main())

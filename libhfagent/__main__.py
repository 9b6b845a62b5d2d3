"""``python -m libhfagent`` is ``hf-agent``."""

import sys

from .cli import main

sys.exit(main())

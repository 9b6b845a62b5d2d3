"""``python -m hf_agentd``: run the service."""

import sys

from ._main import main

sys.exit(main())

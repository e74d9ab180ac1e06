"""``python -m tdxquote``: the same CLI as the ``tdxquote`` command."""

from __future__ import annotations

import sys

from .cli import main

sys.exit(main())

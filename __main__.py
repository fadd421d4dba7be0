"""``python -m stylefusion`` (and ``torchrun -m stylefusion train …``) = the ``stylefusion`` command."""

import sys

from .cli import main

sys.exit(main())

"""`python -m webhook`: the workerguard command."""

import sys

from webhook.cli import main

sys.exit(main())

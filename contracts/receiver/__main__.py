"""`python -m mockwise.contracts.receiver --receiver module:factory` (or `--receiver-cmd "COMMAND"`)."""

import sys

from mockwise.contracts.receiver.runner import main

sys.exit(main())

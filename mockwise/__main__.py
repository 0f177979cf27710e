import sys

from mockwise.cli import main

sys.exit(main())

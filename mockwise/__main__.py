import sys

from mockwise._standalone.cli import main

sys.exit(main())

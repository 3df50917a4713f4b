import sys

from quakesynth.cli.main import main

sys.exit(main())

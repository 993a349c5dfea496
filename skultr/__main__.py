"""``python -m skultr``: run the demo (see ``python -m skultr --help``)."""

import sys

from skultr._demo import main

if __name__ == "__main__":
    sys.exit(main())

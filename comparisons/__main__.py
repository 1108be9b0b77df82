import sys

from .cli import main

if __name__ == "__main__":  # guarded: worker processes are spawned and import this
    sys.exit(main())

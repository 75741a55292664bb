"""swarm-bench entry point: `python run.py suite=scaling [key=value ...]` (see harness.run.cli)."""
import sys

from harness.run.cli import main

if __name__ == "__main__":
    sys.exit(main())

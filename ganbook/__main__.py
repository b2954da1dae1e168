"""`python -m ganbook ...` runs the command line interface in `ganbook.cli`."""

from ganbook.cli import main

if __name__ == "__main__":
    raise SystemExit(main())

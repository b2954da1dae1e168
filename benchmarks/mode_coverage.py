"""Mode-coverage benchmark on the ring and the grid: `python benchmarks/mode_coverage.py --help`.

The code lives in `ganbook.bench`, so `python -m ganbook bench` runs the same from an install.
"""

from ganbook.bench import main

if __name__ == "__main__":
    main()

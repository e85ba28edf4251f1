#!/usr/bin/env python3
"""Switchboard's command line: ``python run.py`` serves; ``python run.py --help`` lists more."""

import sys

from bot.cli import main

if __name__ == "__main__":
    sys.exit(main())

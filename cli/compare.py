"""`llada-tui compare A B [--follow]`: two traces in the player under one timeline (no torch)."""

from __future__ import annotations

import argparse


def run_compare(args: argparse.Namespace) -> int:
    from llada_tui.tui.compare import run_compare as run_compare_app

    return run_compare_app(args.first, args.second, follow=args.follow)

"""Shared test set-up: the grader's imports resolve from the course root, plots stay off-screen."""

import os
import sys
from pathlib import Path

os.environ.setdefault("MPLBACKEND", "Agg")
sys.path.insert(0, str(Path(__file__).parent))

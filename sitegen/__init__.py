"""The static-site generator: article Markdown + figure results → a self-contained Distill-style page."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]   # the repository: article, figures, images and the caches

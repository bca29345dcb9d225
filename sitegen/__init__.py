"""The static-site generator: article Markdown + figure results → a self-contained Distill-style page."""

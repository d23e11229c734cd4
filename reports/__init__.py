"""HTML and Markdown reports, built only from a finished run directory."""

"""HTML and Markdown reports, built only from a finished run directory."""

from reports.build import build_report
from reports.rundir import ReportError

__all__ = ["ReportError", "build_report"]

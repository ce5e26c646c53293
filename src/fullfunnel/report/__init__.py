"""The HTML report: a renderer of result objects, self-contained and offline."""

from fullfunnel.report.html import render_content, render_report, write_report

__all__ = ["render_content", "render_report", "write_report"]

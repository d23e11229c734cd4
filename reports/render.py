"""What the run report and the curve report share: the Jinja2 templates and embedded images."""

from __future__ import annotations

import base64
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, Undefined, select_autoescape

TEMPLATES = Path(__file__).parent / "templates"


def templates() -> Environment:
    environment = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html", "j2"]))
    environment.filters["pct"] = lambda v: "–" if v is None or isinstance(v, Undefined) else f"{100 * v:.1f}%"
    environment.filters["num"] = lambda v, d=2: "–" if v is None else f"{v:.{d}f}"
    return environment


def data_uri(data: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"

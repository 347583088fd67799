"""The Jinja2 environment shared by the renderers: templates live in ``templates/`` beside this file.

Every value a template prints must be one line of printable characters: a value cannot start a new line, a
new section or a new directive of the file it lands in, whatever checked it (or did not) before.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2

TEMPLATES = Path(__file__).parent / "templates"


class UnsafeValue(ValueError):
    """A value that would change the structure of a rendered file."""


def single_line(value: Any) -> Any:
    """Jinja2's ``finalize``: applied to every ``{{ ... }}`` of every template."""
    if not str(value).isprintable():
        raise UnsafeValue(f"refusing to render {str(value)!r}: a rendered value must be one line of printable "
                          "characters")
    return value


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
        finalize=single_line,
    )


def render_template(template: str, **values: object) -> str:
    return _environment().get_template(template).render(**values)

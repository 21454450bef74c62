"""Opening an Ekos XML file and checking its root element, shared by both readers."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from september.errors import SeptemberError


def read_root(path: Path, tag: str, what: str, error: type[SeptemberError]) -> ET.Element:
    """The root element of ``path``; ``error`` when it is unreadable or not a ``<tag>``."""
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as err:
        raise error(f"{path} is not a readable XML {what}: {err}") from err
    if root.tag != tag:
        raise error(f"{path}: root element is <{root.tag}>, not <{tag}>")
    return root

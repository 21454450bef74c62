"""Reading, checking and writing ``september.json``, the manifest of an export package.

The JSON Schema (``manifest.schema.json``) is the contract; :func:`load_manifest` validates
against it and also checks what a schema cannot: that every referenced path is inside the
package and names a frame listed in the manifest.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path, PurePosixPath
from typing import Any

import jsonschema

from september.errors import SeptemberError

MANIFEST_NAME = "september.json"
SCHEMA_VERSION = "1.0"
CALIBRATION_KINDS = ("bias", "dark", "flat", "dark-flat")


class ManifestError(SeptemberError):
    """A package manifest is missing, malformed or inconsistent."""


@cache
def manifest_schema() -> dict[str, Any]:
    """The JSON Schema of the manifest, as shipped with september."""
    text = resources.files(__package__).joinpath("manifest.schema.json").read_text()
    return json.loads(text)


def validate_manifest(data: dict[str, Any]) -> None:
    """Raise ManifestError listing every schema violation and dangling reference in ``data``."""
    validator = jsonschema.Draft202012Validator(manifest_schema())
    problems = [
        f"{'/'.join(str(p) for p in error.absolute_path) or '(top)'}: {error.message}"
        for error in sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path))
    ]
    if not problems:
        problems = _reference_problems(data)
    if problems:
        shown = "\n  ".join(problems[:20])
        more = f"\n  ... and {len(problems) - 20} more" if len(problems) > 20 else ""
        raise ManifestError(f"the package manifest is not valid:\n  {shown}{more}")


def _reference_problems(data: dict[str, Any]) -> list[str]:
    paths = [frame["path"] for frame in data["frames"]]
    known = set(paths)
    problems = [f"frames: path {p!r} is listed twice" for p in known if paths.count(p) > 1]
    for frame in data["frames"]:
        for kind in CALIBRATION_KINDS:
            for ref in frame.get("calibration", {}).get(kind, []):
                if ref not in known:
                    problems.append(f"{frame['path']}: its {kind} {ref!r} is not in the package")
    return problems


@dataclass(frozen=True)
class Manifest:
    """A validated manifest and the folder it describes."""

    root: Path
    data: dict[str, Any]

    @property
    def cluster(self) -> dict[str, Any]:
        return self.data["cluster"]

    @property
    def frames(self) -> list[dict[str, Any]]:
        return self.data["frames"]

    def lights(self, filter_name: str | None = None) -> list[dict[str, Any]]:
        """The light frames, optionally of one filter."""
        return [
            f
            for f in self.frames
            if f["frame_type"] == "light" and (filter_name is None or f["filter"] == filter_name)
        ]

    def filters(self) -> list[str]:
        """Filters of the lights, in first-seen order."""
        return list(dict.fromkeys(f["filter"] for f in self.lights()))

    def calibration_for(self, light: dict[str, Any], kind: str) -> list[dict[str, Any]]:
        """The calibration frames of ``kind`` matched to ``light``."""
        by_path = {f["path"]: f for f in self.frames}
        return [by_path[p] for p in light.get("calibration", {}).get(kind, [])]

    def absolute(self, frame: dict[str, Any]) -> Path:
        """Where a frame's file is on disk."""
        return self.root / PurePosixPath(frame["path"])


def load_manifest(package_dir: str | Path) -> Manifest:
    """Read and validate ``package_dir/september.json``."""
    root = Path(package_dir)
    path = root / MANIFEST_NAME
    if not path.is_file():
        raise ManifestError(
            f"{root} has no {MANIFEST_NAME}: point at a package folder written by "
            "`september export`."
        )
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ManifestError(f"{path} is not valid JSON: {err}") from err
    validate_manifest(data)
    return Manifest(root=root, data=data)


def write_manifest(package_dir: str | Path, data: dict[str, Any]) -> Path:
    """Validate ``data`` and write it as ``package_dir/september.json`` (atomically)."""
    validate_manifest(data)
    path = Path(package_dir) / MANIFEST_NAME
    temporary = path.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")
    temporary.replace(path)
    return path

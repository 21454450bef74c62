"""The night report renders in a real browser (headless Chromium) with every image loaded."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from september.cli import cli
from tests.grading.conftest import GradedNight

pytestmark = pytest.mark.slow  # the shared fixture simulates, ingests and grades 32 frames

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--virtual-time-budget=5000",
]
IMAGE_CHECK = """<script>
window.addEventListener('load', () => {
  const images = Array.from(document.images);
  const loaded = images.filter((i) => i.complete && i.naturalWidth > 0).length;
  const out = document.createElement('div');
  out.id = 'image-check';
  out.textContent = `images ${loaded}/${images.length}`;
  document.body.appendChild(out);
});
</script>"""


def _chromium(*args: str, profile: Path) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if binary is None:
        pytest.fail("chromium is not installed (deploy/install.sh installs it)")
    return subprocess.run(
        [binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_night_report_loads_every_image_in_chromium(m1_nights: GradedNight, tmp_path: Path) -> None:
    out = tmp_path / "night.html"
    night = next(f.night for f in m1_nights.frames if "cloudy-night" in f.path)
    result = CliRunner().invoke(
        cli,
        ["report", "--night", night, "--out", str(out)],
        env={"SEPTEMBER_DATABASE_URL": m1_nights.url},
    )
    assert result.exit_code == 0, result.output
    page = out.read_text()
    assert "http://" not in page and "https://" not in page  # self-contained
    images = re.findall(r'<img src="data:image/png;base64,', page)
    figures = page.count("<figure>")
    assert figures >= 4 and page.count("<figure><img") == figures  # every thumbnail drawn
    assert len(images) == 2 + figures  # the quality plot, the sky map and the thumbnails
    assert "transparency" in page and "accepted hours" in page
    checked = tmp_path / "checked.html"
    checked.write_text(page.replace("</body>", IMAGE_CHECK + "</body>"))
    dom = _chromium("--dump-dom", checked.as_uri(), profile=tmp_path / "profile")
    assert f"images {len(images)}/{len(images)}" in dom.stdout, dom.stderr[-2000:]
    shot = tmp_path / "night.png"
    _chromium(
        f"--screenshot={shot}", "--window-size=1200,3000", out.as_uri(),
        profile=tmp_path / "profile2",
    )  # fmt: skip
    assert shot.stat().st_size > 10_000  # a rendered page, not a blank one


def test_report_needs_a_night_or_target(m1_nights: GradedNight, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli,
        ["report", "--target", "NGC 9999", "--out", str(tmp_path / "x.html")],
        env={"SEPTEMBER_DATABASE_URL": m1_nights.url},
    )
    assert result.exit_code == 2 and "no light frames" in result.output

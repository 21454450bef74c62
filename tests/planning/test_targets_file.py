"""The targets file: validation messages that name target and key, offline names, and mosaic
panel centres placed exactly on the sphere."""

from __future__ import annotations

import tomllib

import numpy as np
import pytest
from astropy.coordinates import SkyCoord

from september.errors import TargetsError
from september.sky.targets import (
    assign_panels,
    canonical_filter,
    load_targets,
    panels_for,
    parse_targets,
)


def _parse(text: str):
    return parse_targets(tomllib.loads(text))


def _mosaic(rows=2, cols=3, overlap=0.2, rotation=0.0, dec=41.269):
    return _parse(
        f"""
        [[target]]
        name = "Test"
        ra = 10.6847
        dec = {dec}
        desired_hours = {{ Ha = 6 }}
        [target.mosaic]
        rows = {rows}
        cols = {cols}
        overlap = {overlap}
        rotation = {rotation}
        field = [1.9, 1.45]
        """
    ).targets[0]


def test_names_resolve_offline_and_filters_are_canonical() -> None:
    targets = _parse(
        """
        [[target]]
        name = "M31"
        priority = 2
        [target.desired_hours]
        L = 10
        "H-alpha" = 6
        """
    )
    (m31,) = targets.targets
    # M31 in OpenNGC: 00h42m44.35s +41d16m08.6s
    truth = SkyCoord("00h42m44.35s", "+41d16m08.6s")
    assert truth.separation(SkyCoord(m31.ra, m31.dec, unit="deg")).arcsec < 1.0
    assert m31.desired_hours == {"L": 10.0, "Ha": 6.0}
    assert m31.priority == 2 and m31.min_altitude == 30.0
    assert canonical_filter("Lum") == "L" and canonical_filter("O3") == "OIII"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('name = "M31"\nexposure = 3', r"target 1 \('M31'\), key 'exposure': unknown key"),
        ('name = "X"\nra = 10', r"target 1 \('X'\), key 'dec': give both ra and dec"),
        (
            'name = "X"\nra = 10\ndec = 95\ndesired_hours = { L = 1 }',
            r"key 'dec': 95.0 is outside",
        ),
        ('name = "M31"', r"key 'desired_hours': missing"),
        (
            'name = "M31"\ndesired_hours = { L = "ten" }',
            r"key 'desired_hours.L': expected a number",
        ),
        (
            'name = "M31"\ndesired_hours = { L = 1 }\nmosaic = { rows = 0 }',
            r"key 'mosaic.rows'",
        ),
        (
            'name = "M31"\ndesired_hours = { L = 1 }\nmosaic = { rows = 2, overlap = 0.95 }',
            r"key 'mosaic.overlap'",
        ),
        (
            'name = "M31"\ndesired_hours = { L = 1 }\nmosaic = { rows = 2, colums = 2 }',
            r"key 'mosaic.colums': unknown key",
        ),
        (
            'name = "Nonexistent Blob 42"\ndesired_hours = { L = 1 }',
            r"key 'name': cannot resolve 'Nonexistent Blob 42' offline",
        ),
    ],
)
def test_errors_name_the_target_and_key(text: str, message: str) -> None:
    with pytest.raises(TargetsError, match=message):
        _parse("[[target]]\n" + text)


def test_file_level_errors(tmp_path) -> None:
    with pytest.raises(TargetsError, match="no targets"):
        _parse("[camera]\nfield = [1, 1]")
    with pytest.raises(TargetsError, match="appears more than once"):
        _parse(
            '[[target]]\nname = "M31"\ndesired_hours = { L = 1 }\n'
            '[[target]]\nname = "M31"\ndesired_hours = { L = 1 }\n'
        )
    bad = tmp_path / "targets.toml"
    bad.write_text("[[target]\nname =")
    with pytest.raises(TargetsError, match="not valid TOML"):
        load_targets(bad)


def test_panel_centres_are_spaced_by_the_field_on_the_sphere() -> None:
    target = _mosaic()
    panels = {p.name: p for p in panels_for(target)}
    assert list(panels) == ["r1c1", "r1c2", "r1c3", "r2c1", "r2c2", "r2c3"]
    coords = {n: SkyCoord(p.ra, p.dec, unit="deg") for n, p in panels.items()}
    centre = SkyCoord(target.ra, target.dec, unit="deg")
    step_x, step_y = 1.9 * 0.8, 1.45 * 0.8
    # the middle column lies on the centre's meridian, half a row step north and south
    assert coords["r1c2"].separation(centre).deg == pytest.approx(step_y / 2, abs=1e-9)
    assert coords["r1c2"].separation(coords["r2c2"]).deg == pytest.approx(step_y, abs=1e-9)
    assert centre.position_angle(coords["r1c2"]).wrap_at("180d").deg == pytest.approx(0, abs=1e-7)
    # column 1 is east (larger RA) at rotation 0; rows are mirror images about the centre
    assert panels["r1c1"].ra > target.ra > panels["r1c3"].ra
    assert panels["r1c1"].dec == pytest.approx(panels["r1c3"].dec, abs=1e-12)
    assert coords["r1c1"].separation(coords["r1c2"]).deg == pytest.approx(step_x, rel=0.01)


def test_rotation_turns_the_grid_east_of_north() -> None:
    target = _mosaic(rotation=30.0)
    centre = SkyCoord(target.ra, target.dec, unit="deg")
    r1c2 = next(p for p in panels_for(target) if p.name == "r1c2")
    angle = centre.position_angle(SkyCoord(r1c2.ra, r1c2.dec, unit="deg")).wrap_at("180d").deg
    assert angle == pytest.approx(30.0, abs=1e-6)


def test_mosaic_across_ra_zero_and_near_the_pole() -> None:
    for dec in (0.0, 85.0):
        target = _mosaic(rows=3, cols=3, dec=dec)
        target = type(target)(**{**target.__dict__, "ra": 0.2})
        panels = panels_for(target)
        coords = SkyCoord([p.ra for p in panels], [p.dec for p in panels], unit="deg")
        assert all(0 <= p.ra < 360 for p in panels)
        # neighbours along a column are exactly one row step apart, even near the pole
        assert coords[1].separation(coords[4]).deg == pytest.approx(1.45 * 0.8, abs=1e-9)
        index = assign_panels(target, coords.ra.deg, coords.dec.deg)
        assert list(index) == list(range(9))


def test_frames_are_assigned_to_the_nearest_panel_within_half_a_field() -> None:
    target = _mosaic()
    panels = panels_for(target)
    rng = np.random.default_rng(5)
    ra, dec, truth = [], [], []
    for i, panel in enumerate(panels):
        offsets = SkyCoord(panel.ra, panel.dec, unit="deg").directional_offset_by(
            rng.uniform(0, 360, 20) * np.pi / 180, rng.uniform(0, 0.3, 20) * np.pi / 180
        )
        ra += list(offsets.ra.deg)
        dec += list(offsets.dec.deg)
        truth += [i] * 20
    far = SkyCoord(target.ra, target.dec, unit="deg").directional_offset_by(0, np.radians(5))
    ra.append(far.ra.deg)
    dec.append(far.dec.deg)
    truth.append(-1)
    assert list(assign_panels(target, np.array(ra), np.array(dec))) == truth


def test_layout_matches_the_simulators_mosaic_within_two_arcseconds() -> None:
    """The simulator places its 3 x 2 M31 mosaic with tangent-plane offsets (an independent
    implementation); september's spherical layout of the same grid agrees to 1.2"."""
    from september.sim.night import offset_position
    from september.sim.scenarios import SCENARIOS

    spec = SCENARIOS["mosaic"]
    target = _parse(
        f"""
        [[target]]
        name = "M31"
        ra = {spec.ra}
        dec = {spec.dec}
        desired_hours = {{ L = 1 }}
        [target.mosaic]
        rows = 3
        cols = 2
        overlap = 0.15
        rotation = 35
        field = [{115 / 60}, 1.45]
        """
    ).targets[0]
    mine = panels_for(target)
    theirs = [offset_position(spec.ra, spec.dec, e * 60, n * 60) for _, e, n in spec.panels]
    index = assign_panels(
        target, np.array([t[0] for t in theirs]), np.array([t[1] for t in theirs])
    )
    assert sorted(index) == list(range(6))
    for (ra, dec), i in zip(theirs, index, strict=True):
        offset = SkyCoord(ra, dec, unit="deg").separation(
            SkyCoord(mine[i].ra, mine[i].dec, unit="deg")
        )
        assert offset.arcsec < 2.0

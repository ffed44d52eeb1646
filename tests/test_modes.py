"""Each list of choices is defined once (deconv_cli.modes) and every place that offers, checks,
documents or names the choices uses that definition."""

from __future__ import annotations

import pickle
import re

import numpy as np
import pytest
import typer

from deconv_cli import DeconvError, conv_transpose2d
from deconv_cli.cli import app
from deconv_cli.core import Crop, Geometry
from deconv_cli.modes import DEFAULT_MAX_PIXELS, Alpha, Depth, DType, Edge, SamePadding
from deconv_cli.pipeline import Settings

from conftest import ROOT, run

README = (ROOT / "README.md").read_text()


def option_types() -> dict[str, object]:
    """The type each option of ``deconv upsample`` is parsed into."""
    command = typer.main.get_command(app).commands["upsample"]  # type: ignore[attr-defined]
    return {p.name: p.type_descriptor.annotation for p in command.params}


@pytest.mark.parametrize(
    "option, mode",
    [("edge", Edge), ("alpha", Alpha), ("dtype", DType), ("depth", Depth)],
)
def test_the_command_line_offers_exactly_the_defined_choices(option, mode):
    assert option_types()[option] is mode
    r = run("upsample", "--help")
    assert f"--{option} <{'|'.join(mode.values())}>" in r.stdout


def test_the_default_pixel_limit_is_the_one_definition():
    command = typer.main.get_command(app).commands["upsample"]  # type: ignore[attr-defined]
    (limit,) = [p.default for p in command.params if p.name == "max_pixels"]
    assert limit == DEFAULT_MAX_PIXELS == Settings.of("bilinear").max_pixels


def test_every_edge_mode_is_documented_in_the_readme():
    section = README[README.index("### Edge effects") : README.index("### Batches")]
    for mode in Edge.values():
        assert re.search(rf"\b{mode}\b", section), mode


@pytest.mark.parametrize("mode", [Edge, Alpha, DType, Depth])
def test_refusals_list_the_defined_choices(mode):
    with pytest.raises(DeconvError) as e:
        mode.of("nonsense", mode.__name__.lower())
    assert e.value.usage
    assert str(e.value) == f"{mode.__name__.lower()} must be one of {', '.join(mode.values())}, got 'nonsense'"


def test_the_library_refuses_an_unknown_edge_with_the_same_list():
    with pytest.raises(
        DeconvError, match="edge must be one of zero, replicate, reflect, symmetric, wrap, renormalize, got 'mirror'"
    ):
        conv_transpose2d(np.ones((2, 2)), np.ones((2, 2)), edge="mirror")


def test_settings_are_checked_once_and_travel_as_they_are():
    s = Settings.of("bilinear", stride="2,3", padding="same", edge="replicate", crop="auto", depth=16)
    assert s.geometry == Geometry(stride=(2, 3), padding=SamePadding.same_upper)
    assert (s.edge, s.crop, s.depth) == (Edge.replicate, Crop(auto=True), Depth.d16)
    again = pickle.loads(pickle.dumps(s))  # what a process-pool or Dask worker receives
    assert again.geometry == s.geometry and again.edge is Edge.replicate
    np.testing.assert_array_equal(again.kernel.weight, s.kernel.weight)


@pytest.mark.parametrize(
    "options, message",
    [
        ({"stride": 0}, "stride (rows) must be >= 1, got 0"),
        ({"padding": "same", "output_padding": 1}, "--padding same chooses the output_padding itself"),
        ({"edge": "mirror"}, "edge must be one of"),
        ({"crop": "1,2"}, "crop '1,2' must be none, auto, N or TOP,BOTTOM,LEFT,RIGHT"),
        ({"compress": 10}, "compress must be 0..9, got 10"),
        ({"two_pass": True, "kernel": "3x3:1,0,0,0,1,0,0,0,1"}, "needs a separable kernel"),
    ],
)
def test_settings_refuse_what_cannot_run(options, message):
    with pytest.raises(DeconvError, match=re.escape(message)) as e:
        Settings.of(**options)
    assert e.value.usage

"""Setting a routing alias's threshold in the config file (``calibrate --write``): the
operator's file keeps its comments and layout; a bad edit never replaces it; a reload
applies the new goals to the running stage without touching the other aliases."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from lockgate.modelconfig.core import changed_sections
from lockgate.routing.config import RouteSpec, RoutingSettings
from lockgate.routing.configfile import set_threshold
from lockgate.routing.model import RouterModel
from lockgate.routing.stage import RouteStage
from lockgate.settings import ConfigError, settings_from_mapping

CONFIG = """\
# team gateway: edited by hand
model_list:
  - model_name: big    # the strong one
    params: {model: mock/big-1}
  - model_name: small
    params:
      model: mock/small-1
      api_key: os.environ/SMALL_KEY   # never expanded by the edit
general_settings:
  master_key: "sk-master"
routing:
  aliases:
    # cheap by default
    smart:
      strong: big
      weak: small
      quality_floor: 0.95   # was the shipped calibration
      window: 500
    other:
      strong: big
      weak: small
      target_strong_share: 0.3
"""


def test_threshold_replaces_the_goal_and_keeps_everything_else(tmp_path: Path) -> None:
    path = tmp_path / "gw.yaml"
    path.write_text(CONFIG)
    path.chmod(0o640)
    assert set_threshold(path, "smart", 0.0123456789, "calibrated on t.jsonl") == "smart"
    text = path.read_text()
    for kept in (
        "# team gateway: edited by hand",
        "- model_name: big    # the strong one",
        "params: {model: mock/big-1}",
        "api_key: os.environ/SMALL_KEY   # never expanded by the edit",
        'master_key: "sk-master"',
        "    # cheap by default",
        "      window: 500",
        "      target_strong_share: 0.3",
    ):
        assert kept in text
    assert "quality_floor" not in text
    assert "threshold: 0.012346  # calibrated on t.jsonl" in text
    smart = yaml.safe_load(text)["routing"]["aliases"]["smart"]
    assert list(smart) == ["strong", "weak", "threshold", "window"]
    assert smart["threshold"] == pytest.approx(0.012346)
    assert path.stat().st_mode & 0o777 == 0o640
    # again: the existing threshold is updated in place, nothing else moves
    set_threshold(path, "smart", 0.5, "again")
    again = path.read_text()
    assert "threshold: 0.5  # again" in again
    assert again.replace("threshold: 0.5  # again", "") == text.replace(
        "threshold: 0.012346  # calibrated on t.jsonl", ""
    )


def test_a_flow_style_alias_is_rewritten_through_the_round_trip(tmp_path: Path) -> None:
    """An alias written inline cannot be edited line by line: ruamel.yaml rewrites the file,
    comments and values kept."""
    path = tmp_path / "gw.yaml"
    path.write_text(
        CONFIG.replace(
            "    other:\n      strong: big\n      weak: small\n      target_strong_share: 0.3\n",
            "    other: {strong: big, weak: small, target_strong_share: 0.3}\n",
        )
    )
    set_threshold(path, "other", -0.25, "inline")
    text = path.read_text()
    assert "# team gateway: edited by hand" in text and "# the strong one" in text
    assert "os.environ/SMALL_KEY   # never expanded by the edit" in text
    data = yaml.safe_load(text)
    assert data["routing"]["aliases"]["other"] == {
        "strong": "big",
        "weak": "small",
        "threshold": -0.25,
    }
    assert data["routing"]["aliases"]["smart"]["quality_floor"] == 0.95
    assert data["model_list"] == yaml.safe_load(CONFIG)["model_list"]


def test_the_only_alias_is_the_default_and_two_need_a_name(tmp_path: Path) -> None:
    path = tmp_path / "gw.yaml"
    path.write_text(CONFIG)
    with pytest.raises(ConfigError, match=r"--alias .*smart, other"):
        set_threshold(path, None, 0.1, "x")
    with pytest.raises(ConfigError, match="no routing alias 'missing'"):
        set_threshold(path, "missing", 0.1, "x")
    assert path.read_text() == CONFIG
    one = tmp_path / "one.yaml"
    one.write_text(CONFIG.split("    other:")[0])
    assert set_threshold(one, None, 0.2, "x") == "smart"


def test_an_edit_that_would_not_validate_leaves_the_file_alone(tmp_path: Path) -> None:
    """The whole file is validated as the gateway reads it before it is replaced."""
    path = tmp_path / "gw.yaml"
    # a file that cannot load here (its database URL comes from an unset variable) is
    # edited with the routing section validated alone: the edit cannot be what breaks it
    elsewhere = CONFIG.replace(
        'master_key: "sk-master"', 'master_key: "sk-master"\n  database_url: os.environ/NO_SUCH_DB'
    )
    path.write_text(elsewhere)
    set_threshold(path, "smart", 0.1, "x")
    assert RoutingSettings.model_validate(yaml.safe_load(path.read_text())["routing"])
    path.write_text(CONFIG.replace("window: 500", "window: 5"))  # below the minimum
    with pytest.raises(ConfigError, match="does not validate"):
        set_threshold(path, "smart", 0.1, "x")
    assert "window: 5\n" in path.read_text() and "quality_floor" in path.read_text()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    nothing = tmp_path / "none.yaml"
    nothing.write_text("model_list: []\n")
    with pytest.raises(ConfigError, match=r"no routing\.aliases"):
        set_threshold(nothing, None, 0.1, "x")


def test_a_reload_retargets_goals_live_and_names_new_targets_for_a_restart() -> None:
    """Goals (threshold, share, floor, window) change in the running stage; an alias whose
    spec is unchanged keeps its policy; new strong/weak targets need a restart."""

    async def embed(texts: list[str]) -> np.ndarray:
        return np.zeros((len(texts), 384), dtype=np.float32)

    model = RouterModel.load()
    smart = RouteSpec(strong="big", weak="small", quality_floor=0.95)
    other = RouteSpec(strong="big", weak="small", target_strong_share=0.3)
    stage = RouteStage({"smart": smart, "other": other}, model, embed)
    kept = stage.policy("other")
    assert stage.policy("smart").threshold() == pytest.approx(0.05)
    new = {"smart": RouteSpec(strong="big", weak="small", threshold=0.2), "other": other}
    assert stage.retarget(new) == ["smart"]
    assert stage.policy("smart").threshold() == pytest.approx(0.2)
    assert stage.policy("other") is kept
    moved = {"smart": RouteSpec(strong="small", weak="big", threshold=0.9)}
    assert stage.retarget(moved) == []
    assert stage.policy("smart").threshold() == pytest.approx(0.2)

    def settings(aliases: dict[str, RouteSpec]) -> object:
        models = [{"model_name": m, "params": {"model": f"mock/{m}"}} for m in ("big", "small")]
        routing = {k: v.model_dump(exclude_none=True) for k, v in aliases.items()}
        return settings_from_mapping(
            {"model_list": models, "routing": {"aliases": routing}}, env={}
        )

    before = settings({"smart": smart, "other": other})
    assert changed_sections(before, settings(new)) == []  # type: ignore[arg-type]
    assert changed_sections(before, settings(moved)) == ["routing"]  # type: ignore[arg-type]

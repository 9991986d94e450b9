"""The `avatar validate|map` commands: output, --json, exit statuses, and running as a module."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest

from services.avatar import cli
from tests.services.avatar.glb_samples import ROBOT, edited_glb, sample_glb

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def valid_file(tmp_path: Path) -> Path:
    path = tmp_path / "avatar.glb"
    path.write_bytes(sample_glb())
    return path


@pytest.fixture
def invalid_file(tmp_path: Path) -> Path:
    path = tmp_path / "broken.glb"
    path.write_bytes(edited_glb({"accessors.0.count": 2**31}))
    return path


def test_validate_json_valid(valid_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["validate", str(valid_file), "--json"]) == 0
    output = json.loads(capsys.readouterr().out)
    assert set(output) == {"valid", "errors", "warnings", "stats"}
    assert output["valid"] is True
    assert output["errors"] == []
    assert output["stats"]["triangles"] == 1
    assert output["stats"]["morph_targets"] == 2


def test_validate_json_invalid(invalid_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["validate", str(invalid_file), "--json"]) == 1
    output = json.loads(capsys.readouterr().out)
    assert output["valid"] is False
    assert {"severity": "error", "code": "ACCESSOR_OUT_OF_BOUNDS", "pointer": "/accessors/0"}.items() <= output[
        "errors"
    ][0].items()


def test_validate_text(invalid_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["validate", str(invalid_file)]) == 1
    out = capsys.readouterr().out
    assert "INVALID" in out
    assert "ACCESSOR_OUT_OF_BOUNDS at /accessors/0" in out


@pytest.mark.parametrize("command", ["validate", "map"])
def test_unreadable_file_exits_2(tmp_path: Path, command: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main([command, str(tmp_path / "missing.glb"), "--json"]) == 2
    assert cli.main([command, str(tmp_path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "cannot read" in captured.err


def test_map_json(valid_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["map", str(valid_file), "--json"]) == 0
    output = json.loads(capsys.readouterr().out)
    mapped = {"greet": "Armature|Wave", "happy": "mouthSmile", "laugh": "mouthSmile", "goodbye": "Armature|Wave"}
    assert output == {"mapped": mapped, "unmapped": []}


def test_map_text_shows_kinds_and_lip_sync(valid_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["map", str(valid_file)]) == 0
    out = capsys.readouterr().out
    assert "greet      clip  Armature|Wave" in out
    assert "happy      morph mouthSmile" in out
    assert "lip sync: aa=jawOpen" in out


def test_map_of_an_invalid_file_exits_1(invalid_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["map", str(invalid_file), "--json"]) == 1
    captured = capsys.readouterr()
    json.loads(captured.out)
    assert "ACCESSOR_OUT_OF_BOUNDS" in captured.err


def test_robot_map_json(capsys: pytest.CaptureFixture[str]) -> None:
    if not ROBOT.exists():
        pytest.skip(f"{ROBOT} is absent (a plain clone has no ../shared)")
    assert cli.main(["map", str(ROBOT), "--json"]) == 0
    mapped = json.loads(capsys.readouterr().out)["mapped"]
    assert {
        "greet": "Wave",
        "nod": "Yes",
        "shake": "No",
        "idle": "Idle",
        "thumbs_up": "ThumbsUp",
    }.items() <= mapped.items()
    assert {"angry": "Angry", "surprised": "Surprised", "sad": "Sad"}.items() <= mapped.items()


def test_register_adds_the_avatar_group_with_handlers(valid_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser(prog="avatarchat")
    cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["avatar", "validate", str(valid_file), "--json"])
    assert args.handler(args) == 0
    assert json.loads(capsys.readouterr().out)["valid"] is True


@pytest.mark.parametrize(("content", "status"), [(b"valid", 0), (b"PK\x03\x04 renamed zip", 1)])
def test_runs_as_a_module_with_one_json_object(tmp_path: Path, content: bytes, status: int) -> None:
    path = tmp_path / "upload.glb"
    path.write_bytes(sample_glb() if content == b"valid" else content)
    done = subprocess.run(
        [sys.executable, "-m", "services.avatar.cli", "validate", str(path), "--json"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == status, done.stderr
    output = json.loads(done.stdout)
    assert output["valid"] is (status == 0)
    assert output["stats"]["file_size"] == path.stat().st_size

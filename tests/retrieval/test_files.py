"""replace_json: a reader sees the old file or the new one, never half of one or a leftover."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from retrieval.files import replace_json


def test_the_file_is_replaced_whole_and_no_temporary_is_left(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "state.json"
    replace_json(path, {"a": [1, 2], "b": "x"})
    replace_json(path, {"a": [3]})
    assert json.loads(path.read_text(encoding="utf-8")) == {"a": [3]}
    assert path.read_text(encoding="utf-8") == '{"a":[3]}'  # compact
    assert sorted(p.name for p in path.parent.iterdir()) == ["state.json"]


def test_a_value_that_cannot_be_written_keeps_the_old_file(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    replace_json(path, {"kept": True})
    with pytest.raises(TypeError):
        replace_json(path, {"kept": object()})
    assert json.loads(path.read_text(encoding="utf-8")) == {"kept": True}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]

"""Discovery of the files to ingest: the support check asked once per suffix."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from ingest.loaders import is_supported
from ingest.sources import _supported, discover

NAME_PART = st.text(alphabet="abcXYZ.éÄ_-0", max_size=8)


SOURCE = st.builds(
    lambda parts, ending: "/".join(parts) + ending,
    st.lists(NAME_PART, min_size=1, max_size=3),
    st.sampled_from(["", ".md", ".TXT", ".pdf.", ".x", "."]),
)


@given(st.lists(SOURCE, min_size=1, max_size=12))
def test_asking_once_per_suffix_gives_is_supported(sources: list[str]) -> None:
    known: dict[str, bool] = {}  # shared: a wrong suffix would answer for another name
    assert [_supported(s, known) for s in sources] == [is_supported(s) for s in sources]


def test_a_walk_skips_unsupported_files(tmp_path: Path) -> None:
    names = ["a.md", "b.MD", "c.txt", "d.xyz", "e.", "f", "sub/g.md", "sub/h.xyz"]
    for name in [*names, ".i.md"]:
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text("text", encoding="utf-8")

    found = discover([tmp_path])

    assert [f.source for f in found.files] == ["a.md", "b.MD", "c.txt", "sub/g.md"]
    assert [s.source for s in found.skipped] == ["d.xyz", "e.", "f", "sub/h.xyz"]
    assert found.present == {str(tmp_path.resolve()): set(names)}

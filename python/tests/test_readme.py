"""The README's Python example, run as a user would run it: extracted from
README.md and started with this interpreter against a libtorrent seeder."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conftest import DEADLINE_S, REPO


def readme_python_example() -> str:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    start = readme.index("```python\n") + len("```python\n")
    return readme[start : readme.index("```", start)]


def test_readme_python_example_downloads_from_a_local_seeder(seeder, tmp_path: Path) -> None:
    peer, torrent, layout, data = seeder
    app = tmp_path / "app.py"
    # The example listens on 6881 as a user's client would; a test takes any free port.
    app.write_text(readme_python_example().replace('"0.0.0.0:6881"', '"127.0.0.1:0"'))
    run = subprocess.run(
        [sys.executable, str(app), str(torrent), peer.endpoint],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=DEADLINE_S,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "torrent_finished: " in run.stdout
    for rel in layout:
        assert (tmp_path / "downloads" / rel).read_bytes() == (data / rel).read_bytes(), rel

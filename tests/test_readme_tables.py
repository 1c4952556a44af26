"""README tables equal the committed records: the tables tool, run as a user runs it, finds no difference; and a
figure edited by hand in a copy of the README is caught."""
import json
import re

import pytest

from seemore_edge import tables
from tests.conftest import REPO, SHARED, run_tool


def test_readme_tables_equal_their_records(capsys):
    code, out, _ = run_tool(tables, ["--check"], capsys)
    assert code == 0, out
    assert all(name in out for name in ("bicubic", "reference-x4", "reference-x2", "edge", "bench"))


def test_a_hand_edited_figure_is_caught(tmp_path, capsys):
    readme = (REPO / "README.md").read_text()
    block = readme.index("<!-- table:bicubic -->")
    edited = readme[:block] + re.sub(r"33\.\d{3}", "34.000", readme[block:], count=1)
    assert edited != readme
    (tmp_path / "README.md").write_text(edited)
    code, out, _ = run_tool(tables, ["--check", "--readme", str(tmp_path / "README.md")], capsys)
    assert code == 1 and "differ from the records" in out
    code, _, _ = run_tool(tables, ["--readme", str(tmp_path / "README.md")], capsys)
    assert code == 0 and (tmp_path / "README.md").read_text() == readme


def test_paper_record_matches_the_reference_text():
    source = SHARED / "reference" / "ARCHITECTURE.md"
    if not source.is_file():
        pytest.skip(f"{source} not found")
    text = source.read_text()
    paper = json.loads((REPO / "docs" / "records" / "paper_table1.json").read_text())["methods"]
    for method, label in (("bicubic", "Bicubic"), ("SeemoRe-T", "SeemoRe-T")):
        for scale, sets in paper[method].items():
            line = next(l for l in text.splitlines() if l.startswith(f"| {scale} | {label} |"))
            for s in ("Set5", "Set14", "BSD100"):
                assert f"{sets[s]['psnr']:.2f}/{sets[s]['ssim']:.4f}".replace("/0.", "/.") in line, (method, scale, s)

"""The tables of the README and docs/RESULTS.md equal the committed records: the tables tool, run as a user runs it,
finds no difference; and a figure edited by hand in a copy of either is caught."""
import json
import re

import pytest

from seemore_edge import tables
from tests.conftest import REPO, SHARED, run_tool


def test_readme_and_results_tables_equal_their_records(capsys):
    code, out, _ = run_tool(tables, ["--check"], capsys)
    assert code == 0, out
    readme, results = out.splitlines()
    assert readme.startswith(str(REPO / "README.md")) and "headline" in readme
    assert all(name in results for name in ("bicubic", "reference-x4", "reference-x2", "edge", "edge-int", "bench",
                                              "browser"))


def test_the_readme_top_screen_is_the_two_commands_and_one_table():
    """A newcomer's path: the two commands, then one results table, every other table one link away."""
    readme = (REPO / "README.md").read_text()
    head = readme[:readme.index("<!-- /table -->")]
    assert head.count("```bash") == 1 and "python -m seemore_edge.qat" in head and "python -m pytest" in head
    assert readme.count("<!-- table:") == 1 and "<!-- table:headline -->" in readme
    assert "docs/RESULTS.md" in readme and len(readme.splitlines()) < 150


@pytest.mark.parametrize("document, pattern", [("README.md", r"31\.\d\d"), ("docs/RESULTS.md", r"33\.\d{3}")])
def test_a_hand_edited_figure_is_caught(document, pattern, tmp_path, capsys):
    text = (REPO / document).read_text()
    block = text.index("<!-- table:")
    edited = text[:block] + re.sub(pattern, "34.000", text[block:], count=1)
    assert edited != text
    (tmp_path / "doc.md").write_text(edited)
    code, out, _ = run_tool(tables, ["--check", str(tmp_path / "doc.md")], capsys)
    assert code == 1 and "differ from the records" in out
    code, _, _ = run_tool(tables, [str(tmp_path / "doc.md")], capsys)
    assert code == 0 and (tmp_path / "doc.md").read_text() == text


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


def test_a_file_scored_by_two_commands_is_one_row_and_no_other_file_joins_it(tmp_path):
    from seemore_edge.core.errors import UserError
    from seemore_edge.pipelines.readme_tables import Records, joined_record

    folder = tmp_path / "docs" / "records"
    folder.mkdir(parents=True)

    def record(name, sha, sets, differing):
        (folder / name).write_text(json.dumps({
            "sha256": sha, "accelerator": "webgpu", "sets": {s: {"psnr": 30.0, "ssim": 0.9, "images": 5} for s in sets},
            "agreement": {"images": 5, "differing_values": differing, "values": 100, "max_level_difference": differing}}))
    record("a.json", "x", ["Set5", "Set14"], 3)
    record("b.json", "x", ["BSD100"], 7)
    record("c.json", "y", ["BSD100"], 1)
    record("d.json", "x", ["Set5"], 1)
    joined = joined_record(Records(tmp_path), ["a.json", "b.json"])
    assert list(joined["sets"]) == ["Set5", "Set14", "BSD100"]
    assert joined["agreement"] == {"images": 10, "differing_values": 10, "values": 200, "max_level_difference": 7}
    with pytest.raises(UserError, match="another file or runtime"):
        joined_record(Records(tmp_path), ["a.json", "c.json"])
    with pytest.raises(UserError, match="scores a set"):
        joined_record(Records(tmp_path), ["a.json", "d.json"])

"""The one record format: every shipped card validates, no committed JSON holds a machine's path, schema-0 cards load
only through the upgrade, and a card that breaks the schema is refused with one line (as torchvision tests its
weights' metadata)."""
import json
import re

import pytest

from seemore_edge.core import records
from seemore_edge.core.checkpoints import WEIGHTS_DIR, load_model, save_model, shipped_weights
from seemore_edge.core.errors import UserError
from seemore_edge.core.records import ArtifactCard, ModelCard
from tests.conftest import REPO

GOLDEN_CARD = REPO / "tests" / "golden" / "artifact_card.json"


def test_every_shipped_card_validates_and_names_its_parent_by_sha256():
    names = set(shipped_weights())
    assert {"T-x4", "T-x2", "T-x4-qat"} <= names
    for name, path in shipped_weights().items():
        raw = json.loads(path.with_suffix(".json").read_text())
        assert raw["schema"] == records.SCHEMA, name
        card = records.read(path.with_suffix(".json"), ModelCard)
        assert card.name == name and card.metrics is not None and set(card.metrics.sets) == {"Set5", "Set14", "BSD100"}
        assert card.metrics.command.endswith(f"--weights {name}")
        if card.parent is not None:  # named by shipped name, and those are the very bytes shipped under it
            assert card.parent.name in names and card.parent.sha256 == records.file_sha256(shipped_weights()[card.parent.name])
    assert records.read(WEIGHTS_DIR / "T-x4-qat.json", ModelCard).parent.name == "T-x4"


def test_no_committed_json_holds_an_absolute_path():
    absolute = re.compile(r'"(/(work|root|home|tmp|Users|opt|mnt|data)/|[A-Z]:\\\\)')
    tracked = [p for p in REPO.rglob("*.json") if ".venv" not in p.parts and "out" not in p.parts[len(REPO.parts):][:1]
               and not any(part.startswith(".") for part in p.relative_to(REPO).parts)]
    assert tracked
    for path in tracked:
        assert not absolute.search(path.read_text()), path


def test_golden_artifact_card_validates():
    card = records.read(GOLDEN_CARD, ArtifactCard)
    assert card.tile == [180, 320] and card.output.quantization == {"scale": 0.00392157, "zero_point": -128}


def test_schema_0_cards_upgrade_or_are_refused(tmp_path, tiny_checkpoint):
    weights = tmp_path / "parent.safetensors"
    weights.write_bytes(tiny_checkpoint.read_bytes())
    old = {"format": "seemore-edge qat-int8", "preset": "T", "scale": 4, "routing": "fixed", "experts": [1, 2],
           "made_from": "/some/other/machine/parent.safetensors", "recipe": "300 iterations", "note": "old"}
    (tmp_path / "q.json").write_text(json.dumps(old))
    card = records.read(tmp_path / "q.json", ModelCard)  # the parent's file is beside the card: named and hashed
    assert card.kind == "qat-int8" and card.routing.experts == [1, 2] and card.schema == 1
    assert card.parent.name == "parent" and card.parent.sha256 == records.file_sha256(weights)
    weights.unlink()
    with pytest.raises(UserError, match="names its parent by a path"):
        records.read(tmp_path / "q.json", ModelCard)
    (tmp_path / "v9.json").write_text(json.dumps({"schema": 9}))
    with pytest.raises(UserError, match="card schema 9"):
        records.read(tmp_path / "v9.json", ModelCard)


def test_invalid_cards_are_refused_when_written_and_read(tmp_path):
    model = load_model(shipped_weights()["T-x4"])
    with pytest.raises(UserError, match=r"metrics\.sets\.Set5\.psnr: expected a number"):
        save_model(model, tmp_path / "m.safetensors", {"metrics": {"protocol": "p", "command": "c",
                                                                   "sets": {"Set5": {"psnr": "high", "ssim": 1,
                                                                                     "images": 5}}}})
    assert not (tmp_path / "m.safetensors").exists() and not (tmp_path / "m.json").exists()
    good = json.loads((WEIGHTS_DIR / "T-x4.json").read_text())
    for broken, words in [({**good, "routing": {"type": "fixed", "experts": None}}, "fixed routing lists its experts"),
                          ({**good, "colour": "blue"}, "unknown field 'colour'"),
                          ({k: v for k, v in good.items() if k != "preset"}, "field 'preset' is missing")]:
        (tmp_path / "c.json").write_text(json.dumps(broken))
        with pytest.raises(UserError, match=words):
            records.read(tmp_path / "c.json", ModelCard)

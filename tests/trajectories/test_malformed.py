"""Every malformed file gives one error line naming the file, the line and the field."""

import json
from pathlib import Path

import pytest

from engram import TrajectoryDataset, ValidationError

CORPUS = Path(__file__).resolve().parents[1] / "data" / "malformed"
EXPECTED = json.loads((CORPUS / "expected.json").read_text())


def test_corpus_has_at_least_20_cases():
    assert len(EXPECTED) >= 20


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_malformed_file_error_names_file_line_and_field(name):
    expected = EXPECTED[name]
    with pytest.raises(ValidationError) as info:
        TrajectoryDataset.load(CORPUS / name)
    err = info.value
    message = str(err)
    assert "\n" not in message
    assert err.source.endswith(name) and message.startswith(str(CORPUS / name) + f":{expected['line']}: ")
    assert err.line == expected["line"]
    if expected["field"] is not None:
        assert err.field == expected["field"]
        assert f"field '{expected['field']}'" in message

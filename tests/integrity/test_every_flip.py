"""Every single flipped bit in the data members of an archive is noticed, sidecar or not."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jellycell_jupyter import archive


@pytest.mark.parametrize("keep_sidecar", [True, False], ids=["sidecar", "no-sidecar"])
def test_a_flip_anywhere_in_the_data_members_is_refused(
    project: Path, tmp_path: Path, keep_sidecar: bool, reading: str
) -> None:
    made = archive.create(project, name="good")
    good = Path(made.path).read_bytes()
    sidecar = Path(made.path).with_name("good.json")
    summary = json.loads(sidecar.read_text())
    data_end = summary["index_offset"]
    checkpoints = Path(made.path).parent
    assert data_end > 0

    # Read in runs, each try starts processes: every 23rd byte still hits every member.
    for offset in range(0, data_end, 3 if reading == "one pass" else 23):
        damaged = bytearray(good)
        damaged[offset] ^= 0x10
        (checkpoints / "flipped.tar.gz").write_bytes(bytes(damaged))
        if keep_sidecar:
            (checkpoints / "flipped.json").write_text(sidecar.read_text())
        target = tmp_path / f"target-{offset}"

        with pytest.raises(archive.CheckpointError) as refused:
            archive.restore(project, "flipped", into=target)

        assert refused.value.kind == "damaged", (offset, refused.value.message)
        assert not target.exists()
        assert not archive.verify(project, "flipped").ok
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []

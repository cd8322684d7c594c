"""Refresh the model schemas in ``jellycell_jupyter/server/openapi.json`` from the pydantic models.

Run ``python tests/server/sync_openapi.py`` after changing a report model or a
request body; everything else in the description is written by hand.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from jellycell_jupyter import archive
from jellycell_jupyter.server.checkpoints import CreateBody
from jellycell_jupyter.server.restore import RestoreBody
from jellycell_jupyter.server.verify import VerifyBody

DESCRIPTION = Path(__file__).parents[2] / "jellycell_jupyter" / "server" / "openapi.json"
REPORTS: list[type[BaseModel]] = [
    archive.CheckpointCreateReport,
    archive.CheckpointListReport,
    archive.CheckpointListEntry,
    archive.CheckpointRestoreReport,
    archive.CheckpointVerifyReport,
]
BODIES: list[type[BaseModel]] = [CreateBody, RestoreBody, VerifyBody]


def model_schemas() -> dict[str, Any]:
    """The JSON Schemas of the reports as sent and of the request bodies as accepted."""
    _, generated = models_json_schema(
        [(model, "serialization") for model in REPORTS]
        + [(model, "validation") for model in BODIES],
        ref_template="#/components/schemas/{model}",
    )
    schemas: dict[str, Any] = generated["$defs"]
    return schemas


def main() -> None:
    """Rewrite the model schemas in the description, keeping everything else."""
    description = json.loads(DESCRIPTION.read_text(encoding="utf-8"))
    schemas = description["components"]["schemas"]
    schemas.update(model_schemas())
    description["components"]["schemas"] = dict(sorted(schemas.items()))
    DESCRIPTION.write_text(json.dumps(description, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()

"""The helper process of a large create: ``python -m jellycell_jupyter.archive.pack``.

It writes the members of the last groups of a create into a file of its own,
which the creating process appends to the archive; see :mod:`.helpers`.
"""

from __future__ import annotations

if __name__ == "__main__":
    from .helpers import serve
    from .writer import write_helped

    serve(write_helped)

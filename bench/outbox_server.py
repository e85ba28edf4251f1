"""``python run.py serve`` for bench/ingest.py's outbox comparison: with ``--no-followups``
the ingest writers leave out the followup row (the transactional outbox), which only this
benchmark's baseline does; without it, exactly ``run.py serve``.

    python bench/outbox_server.py [--no-followups]
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path

# the repository in place of this script's folder (bench/telegram.py is not the library)
sys.path[0] = str(Path(__file__).resolve().parent.parent)
import bot.app  # noqa: E402
from bot.cli import main  # noqa: E402
from bot.core.ingest_orm import TortoiseDriver  # noqa: E402
from bot.core.ingest_sqlite import SqliteWriter  # noqa: E402

if __name__ == "__main__":
    if "--no-followups" in sys.argv:
        bot.app.SqliteWriter = functools.partial(SqliteWriter, followups=False)  # type: ignore[misc]
        bot.app.TortoiseDriver = functools.partial(TortoiseDriver, followups=False)  # type: ignore[misc]
    sys.argv = [sys.argv[0], "serve"]
    sys.exit(main())

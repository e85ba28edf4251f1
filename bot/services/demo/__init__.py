"""The demo shop's content: a shop that looks in use on first start (``make run``).

Every demo row is marked, so the banner can tell it exists and one button removes exactly
it (:func:`remove`):

* channel accounts and contacts are named ``… (demo)``; the accounts are disabled, so no
  poller or publisher talks to a network with their made-up settings;
* conversations carry the label ``demo``; sentiment scores have the model version
  ``demo``; reviews and shop events the source ``demo``; mentions a ``demo:`` reference;
  segments, broadcasts, sequences and listening rules are named ``… (demo)``.

It is written through the models the features use, at times relative to now, and the
report roll-ups are refreshed at the end so the dashboard and the reports show it at once.
Seeded only with ``settings.demo_content`` into a shop that was just created.
"""

from __future__ import annotations

from bot.services.demo.content import seed_content
from bot.services.demo.marks import present
from bot.services.demo.removal import remove

__all__ = ["present", "remove", "seed_content"]

"""Imports every reports module, so each registers its reports in
:data:`bot.services.reports.REPORTS`. The composition root and the front ends import this
module; a new reports module adds one import line here."""

from __future__ import annotations

import bot.services.reports.attribution  # noqa: F401
import bot.services.reports.inbox  # noqa: F401
import bot.services.reports.inbox_people  # noqa: F401
import bot.services.reports.listening_reports  # noqa: F401
import bot.services.reports.shop  # noqa: F401

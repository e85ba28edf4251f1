"""Field types and models every part of the REST API uses."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field

Text = Annotated[str, Field(min_length=1, max_length=20000)]
Name = Annotated[str, Field(max_length=200)]
Email = Annotated[str, Field(max_length=254, pattern=r"^[^@\s]+@[^@\s]+$")]


class Deleted(BaseModel):
    deleted: bool

"""The structured answer the parity and chat tests ask for, in each schema kind create_agent takes."""

from __future__ import annotations

import dataclasses

from pydantic import BaseModel
from typing_extensions import TypedDict


class Density(BaseModel):
    city: str
    people_per_km2: int


@dataclasses.dataclass
class DensityData:
    city: str
    people_per_km2: int


class DensityDict(TypedDict):
    city: str
    people_per_km2: int


DENSITY_SCHEMA = {"title": "Density", "type": "object", "required": ["city", "people_per_km2"],
                  "properties": {"city": {"type": "string"}, "people_per_km2": {"type": "integer"}}}

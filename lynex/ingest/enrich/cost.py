"""Cost from a price table shipped inside the package (no price-list fetch at run time).

Prices are USD per million tokens. ``input_tokens`` counts every prompt token including
cached ones (the OpenAI convention); cached tokens are billed at the cached-input price.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from lynex.errors import ConfigError


@dataclass(frozen=True)
class Price:
    provider: str
    pattern: str
    input: float
    output: float
    cached_input: float | None
    effective: dt.date


class PriceTable:
    """Ordered price rows; the first matching pattern wins, then the latest effective date."""

    def __init__(self, prices: list[Price]):
        self._groups: list[tuple[re.Pattern, list[Price]]] = []
        index: dict[str, list[Price]] = {}
        for price in prices:
            if price.pattern not in index:
                index[price.pattern] = []
                self._groups.append((re.compile(price.pattern), index[price.pattern]))
            index[price.pattern].append(price)
        for rows in index.values():
            rows.sort(key=lambda p: p.effective)
        self._cache: dict[str, list[Price] | None] = {}

    def __len__(self) -> int:
        return sum(len(rows) for _, rows in self._groups)

    def lookup(self, model: str, on: dt.date) -> Price | None:
        """The price in force for ``model`` on day ``on``, or None for an unknown model."""
        key = normalize_model(model)
        if key not in self._cache:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[key] = next((rows for rx, rows in self._groups if rx.fullmatch(key)), None)
        rows = self._cache[key]
        if not rows:
            return None
        chosen = rows[0]
        for row in rows:
            if row.effective <= on:
                chosen = row
        return chosen


def normalize_model(model: str) -> str:
    return model.strip().lower().rsplit("/", 1)[-1].replace("@", "-")


def compute_cost(price: Price, input_tokens: int, output_tokens: int, cached_tokens: int) -> float:
    """USD for one call; cached tokens are part of ``input_tokens``."""
    cached = min(cached_tokens, input_tokens)
    cached_rate = price.cached_input if price.cached_input is not None else price.input
    total = (input_tokens - cached) * price.input + cached * cached_rate + output_tokens * price.output
    return round(total / 1_000_000, 10)


def _rows_from(data: dict, source: str) -> list[Price]:
    rows = []
    for i, row in enumerate(data.get("models", [])):
        where = f"{source}: models[{i}]"
        try:
            pattern = str(row["pattern"])
            re.compile(pattern)
            rows.append(Price(
                provider=str(row.get("provider", "")),
                pattern=pattern,
                input=float(row["input"]),
                output=float(row.get("output", 0.0)),
                cached_input=None if row.get("cached_input") is None else float(row["cached_input"]),
                effective=dt.date.fromisoformat(str(row.get("from", "2000-01-01"))),
            ))
        except (KeyError, ValueError, TypeError, re.error) as exc:
            raise ConfigError(f"{where}: needs pattern (regex), input and output prices, from (YYYY-MM-DD): {exc}")
    return rows


def load_price_table(override_file: str = "") -> PriceTable:
    """The built-in table, with rows from ``override_file`` (TOML or JSON) taking precedence."""
    builtin = json.loads(resources.files("lynex.data").joinpath("prices.json").read_text("utf-8"))
    rows = _rows_from(builtin, "built-in prices.json")
    if override_file:
        path = Path(override_file).expanduser()
        try:
            text = path.read_text("utf-8")
            data = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
        except (OSError, ValueError) as exc:
            raise ConfigError(f"prices_file {path}: cannot read it as TOML/JSON ({exc})")
        rows = _rows_from(data, str(path)) + rows
    return PriceTable(rows)

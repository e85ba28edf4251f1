"""Reviews from outside cannot stop their way in (issue 19 point 3): Google's fields of
any length are fitted (no 500 that Google would retry for ever), and a CSV row that
cannot be stored is a bad row, quarantined after its tries, while the import goes on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bot.models import ImportFailure, Review
from listening import reviews as rv
from tests.conftest import Shop
from tests.listening.test_reviews import GOOGLE, _post


async def test_google_review_with_over_long_fields_is_stored_fitted(shop_any_db: Shop
                                                                    ) -> None:
    account = shop_any_db.seed["api_account_id"]
    body = {**GOOGLE, "reviewId": "long-1", "comment": "w" * 25000,
            "reviewer": {"displayName": "M" * 300, "isAnonymous": False}}
    resp = await _post(shop_any_db, f"/api/v1/reviews/google/{account}", body)
    assert resp.status == 201, await resp.text()
    review = await Review.get(id=(await resp.json())["id"])
    assert review.author == "M" * 199 + "…"
    assert len(review.text) == 20000 and review.text.endswith("…")


async def test_a_csv_row_that_cannot_be_stored_is_quarantined(
        shop_any_db: Shop, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "reviews.csv"
    path.write_text("id,rating,text\nc1,5,Fast delivery\nc2,1,poison-pill\nc3,2,Meh\n")
    real_store, calls = rv.store, []

    async def store(body: rv.ReviewIn, *a: Any, **k: Any) -> rv.Stored:
        calls.append(body.id)
        if body.text == "poison-pill":
            raise RuntimeError("cannot store this one")
        return await real_store(body, *a, **k)

    monkeypatch.setattr(rv, "store", store)
    added, same, bad = await rv.import_csv(path, None, tries=2)
    assert (added, same) == (2, 0)
    assert bad == [(3, "could not be stored; import it again")]
    added, same, bad = await rv.import_csv(path, None, tries=2)
    assert (added, same) == (0, 2)
    assert bad == [(3, "could not be stored; quarantined (see could not import)")]
    row = await ImportFailure.get(source="reviews", key="csv:c2")
    assert row.quarantined and row.tries == 2 and "poison-pill" in row.body
    calls.clear()
    await rv.import_csv(path, None, tries=2)
    assert calls == ["c1", "c3"]  # passed over from now on

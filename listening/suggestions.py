"""Reply drafts for reviews and negative comments, from ``templates/replies/<lang>.j2``.

A draft names what the customer wrote about (the delivery time, a size, the support
team, …: :func:`aspects`), varies its wording (the variant follows the item's id, so two
reviews in a row never read the same), and for a negative review apologises, offers to
solve it privately and gives the shop's contact. After a private resolution,
:func:`followup` drafts the public follow-up.
"""

from __future__ import annotations

import re

from bot.services.flows.texts import Texts

REPLIES = Texts("replies")
VARIANTS = 3
# What customers write about, by stems in each shop language (matched in lower case;
# Thai and Khmer have no spaces, so every stem is matched as a substring).
ASPECTS: dict[str, tuple[str, ...]] = {
    "delivery": ("deliver", "shipping", "shipped", "arrive", "courier", "parcel", "late",
                 "giao hàng", "vận chuyển", "ship hàng", "giao chậm", "ส่ง", "ขนส่ง",
                 "dostaw", "przesył", "kurier", "paczk", "доставк", "курьер", "посылк",
                 "ដឹកជញ្ជូន", "ដឹក"),
    "size": ("size", "fit", "too small", "too big", "too large", "kích cỡ", "size", "cỡ",
             "ขนาด", "ไซส์", "rozmiar", "размер", "маломер", "большемер", "ទំហំ"),
    "quality": ("quality", "broke", "broken", "ripped", "defect", "cheap material",
                "chất lượng", "hỏng", "rách", "คุณภาพ", "พัง", "jakość", "jakości", "zepsut",
                "wadliw", "качеств", "сломал", "брак", "គុណភាព", "ខូច"),
    "price": ("price", "expensive", "overpriced", "cost", "giá", "đắt", "ราคา", "แพง",
              "cena", "cen", "drogi", "drogo", "цена", "цены", "дорог", "តម្លៃ", "ថ្លៃ"),
    "support": ("support", "customer service", "agent", "staff", "rude", "answer",
                "nhân viên", "hỗ trợ", "tư vấn", "พนักงาน", "บริการ", "obsług", "konsultant",
                "поддержк", "оператор", "менеджер", "продавец", "បុគ្គលិក", "សេវា"),
    "packaging": ("packag", "box", "wrapped", "đóng gói", "hộp", "แพ็ค", "กล่อง",
                  "opakowan", "pudeł", "упаковк", "коробк", "វេចខ្ចប់", "ប្រអប់"),
    "refund": ("refund", "return", "money back", "hoàn tiền", "đổi trả", "คืนเงิน",
               "คืนสินค้า", "zwrot", "возврат", "вернуть деньги", "សងប្រាក់"),
}
_WORDY = re.compile(r"^[a-z]")


def aspects(text: str) -> list[str]:
    """The aspects a text mentions, the earliest first."""
    low = text.casefold()
    found: list[tuple[int, str]] = []
    for key, stems in ASPECTS.items():
        hits = [m.start() for s in stems for m in re.finditer(
            (r"(?<!\w)" if _WORDY.match(s) else "") + re.escape(s), low)]
        if hits:
            found.append((min(hits), key))
    return [key for _, key in sorted(found)]


def tone(rating: int | None, sentiment: str) -> str:
    """What the draft answers: the stars when given (1-2 negative, 3 neutral), else the
    model's label."""
    if rating is not None and 1 <= rating <= 5:
        return "negative" if rating <= 2 else "neutral" if rating == 3 else "positive"
    return sentiment if sentiment in ("negative", "neutral", "positive") else "neutral"


def suggest(item_id: int, text: str, locale: str, *, rating: int | None = None,
            sentiment: str = "", name: str = "", product: str = "", shop: str = "",
            contact: str = "") -> str:
    kind = tone(rating, sentiment)
    found = aspects(" ".join((text, product)) if kind != "positive" else text)
    aspect = REPLIES.text(locale, "aspect", which=found[0]) if found else ""
    args = {"v": item_id % VARIANTS, "name": first_name(name), "aspect": aspect,
            "product": product, "shop": shop}
    if kind == "negative":
        args["contact"] = contact
    return REPLIES.text(locale, kind, **args)


def followup(item_id: int, locale: str, name: str = "", shop: str = "") -> str:
    return REPLIES.text(locale, "followup", v=item_id % VARIANTS, name=first_name(name),
                        shop=shop)


def first_name(name: str) -> str:
    name = name.strip()
    return name.split()[0] if name and not name.lower().startswith("a google user") else ""

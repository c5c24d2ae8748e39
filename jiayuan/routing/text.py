"""Text normalisation (文本规范化) before the classifier sees a message.

The training messages were anonymised by their publisher: places read "A市", "A2区", "K8县",
"西地省", and phone or ID numbers are runs of "*". A model left alone learns those tokens (some
letters stand for cities that send more of one category), and then fails on real wording such as
"烟台市芝罘区". So every masked place becomes "某" + its level ("某市", "某区", "某省") and masks
are dropped, in training and in prediction alike.
"""

from __future__ import annotations

import re
import unicodedata

# Letters (and an optional number) standing for a place, followed by its level: A市, A2区, K8县,
# D10镇. Only before a level character, so "A座", "B超", "4S店" are left alone.
MASKED_PLACE = re.compile(r"(?<![A-Za-z0-9])[A-Z]{1,2}\d{0,3}(?=[省市区县镇乡村])")
MASKED_PROVINCE = re.compile(r"西地省")
# Phone and ID masks ("电话：*****************", "朱**"): two or more asterisks.
MASK_RUN = re.compile(r"\*{2,}")
# Scraping leftovers of the source board.
LEFTOVERS = re.compile(r"\.\.\.\[查看全文\]|\[查看全文\]")
SPACES = re.compile(r"\s+")

# Long messages are cut: the first 2,000 characters decide the category and keep a prediction
# within a few milliseconds whatever a client sends.
MAX_BODY_CHARS = 2000
MAX_TITLE_CHARS = 200


def normalise(text: str) -> str:
    """规范化: full-width to half-width (NFKC), masked places to "某"+level, masks removed."""
    text = unicodedata.normalize("NFKC", text or "")
    text = LEFTOVERS.sub(" ", text)
    text = MASKED_PROVINCE.sub("某省", text)
    text = MASKED_PLACE.sub("某", text)
    text = MASK_RUN.sub(" ", text)
    return SPACES.sub(" ", text).strip()


def prepare(title: str, body: str) -> tuple[str, str]:
    """The two views the model reads: (title, title + body), each normalised and bounded."""
    clean_title = normalise((title or "")[: MAX_TITLE_CHARS * 2])[:MAX_TITLE_CHARS]
    clean_body = normalise((body or "")[: MAX_BODY_CHARS * 2])[:MAX_BODY_CHARS]
    return clean_title, f"{clean_title} {clean_body}".strip()

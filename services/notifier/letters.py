"""Letters (PDF) for the formal stages: 催费函, 律师函 and 律师函后函.

Chinese renders with reportlab's built-in CID font STSong-Light (the reader's viewer supplies
the glyphs), so no font file ships with the service. Each letter is kept under
`DATA_DIR/letters/<community>/<notification_id>.pdf` for printing and attached to the email.
"""
from __future__ import annotations

import io
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from xml.sax.saxutils import escape

from reportlab.graphics.barcode.qr import QrCodeWidget
from reportlab.graphics.shapes import Drawing
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.platypus import HRFlowable, Paragraph, SimpleDocTemplate, Spacer

from services.notifier.templates import LETTER_BODY, LETTER_TITLE, LETTERHEAD, render_text
from services.notifier.templates.rendering import supported

LETTER_TEMPLATES = ("notice", "lawyer_letter", "follow_up_letter")
FONT = "STSong-Light"
FILE_NAME = {  # what the owner sees as the attachment's name
    ("notice", "zh-CN"): "催费函.pdf", ("notice", "en"): "formal-notice.pdf",
    ("lawyer_letter", "zh-CN"): "律师函.pdf", ("lawyer_letter", "en"): "lawyers-letter.pdf",
    ("follow_up_letter", "zh-CN"): "律师函后函.pdf", ("follow_up_letter", "en"): "follow-up-letter.pdf",
}
_SAFE = re.compile(r"[^A-Za-z0-9_.-]")


@dataclass(frozen=True)
class Letter:
    template: str
    locale: str
    name: str
    amount: str
    on: date
    community: str | None = None
    unit: str | None = None
    reply_link: str | None = None  # the follow-up letter's personal reply-form link

    @property
    def file_name(self) -> str:
        return FILE_NAME[(self.template, supported(self.locale))]


def is_letter(template: str) -> bool:
    return template in LETTER_TEMPLATES


def _styles(locale: str) -> dict[str, ParagraphStyle]:
    # CJK line breaking lets Chinese wrap anywhere; English wraps at spaces.
    wrap = "CJK" if locale == "zh-CN" else None
    body = ParagraphStyle("body", fontName=FONT, fontSize=11, leading=18, wordWrap=wrap, spaceAfter=8)
    return {
        "head": ParagraphStyle("head", fontName=FONT, fontSize=16, leading=22, alignment=1),
        "title": ParagraphStyle("title", fontName=FONT, fontSize=18, leading=26, alignment=1, spaceBefore=10,
                                spaceAfter=14),
        "body": body,
        "sign": ParagraphStyle("sign", parent=body, alignment=2),
        # A link has no spaces to break at: let it break anywhere.
        "link": ParagraphStyle("link", parent=body, fontSize=9, wordWrap="CJK"),
    }


def formatted_date(on: date, locale: str) -> str:
    return f"{on.year}年{on.month}月{on.day}日" if locale == "zh-CN" else f"{on.day} {on:%B %Y}"


def render_letter(letter: Letter) -> bytes:
    """The letter as a PDF: letterhead, title, the stage's wording for this owner, date and signature."""
    pdfmetrics.registerFont(UnicodeCIDFont(FONT))  # idempotent; registers the built-in CID font
    locale = supported(letter.locale)
    key = (letter.template, locale)
    values = {"name": letter.name, "amount": letter.amount, "community": letter.community or "",
              "unit": letter.unit or "", "date": formatted_date(letter.on, locale),
              "reply_link": letter.reply_link or ""}
    style = _styles(locale)
    # Paragraph reads a little markup: every value and every line is escaped first.
    story = [Paragraph(escape(LETTERHEAD[locale]), style["head"]),
             HRFlowable(width="100%", thickness=0.8, spaceBefore=4, spaceAfter=6),
             Paragraph(escape(LETTER_TITLE[key]), style["title"])]
    for block in render_text(LETTER_BODY[key], values).split("\n\n"):
        if letter.reply_link and block.strip() == letter.reply_link:
            story += [Paragraph(escape(block), style["link"]), _qr_code(letter.reply_link)]
        else:
            story.append(Paragraph(escape(block).replace("\n", "<br/>"), style["body"]))
    story += [Spacer(1, 12 * mm), Paragraph(escape(LETTERHEAD[locale]), style["sign"]),
              Paragraph(escape(values["date"]), style["sign"])]
    out = io.BytesIO()
    document = SimpleDocTemplate(out, pagesize=A4, title=LETTER_TITLE[key], author=LETTERHEAD[locale],
                                 leftMargin=25 * mm, rightMargin=25 * mm, topMargin=20 * mm,
                                 bottomMargin=20 * mm, invariant=True)
    document.build(story)
    return out.getvalue()


def _qr_code(link: str, size: float = 32 * mm) -> Drawing:
    """The link as a QR code: a printed letter is read by a phone, not typed."""
    widget = QrCodeWidget(link)
    left, bottom, right, top = widget.getBounds()
    drawing = Drawing(size, size, transform=[size / (right - left), 0, 0, size / (top - bottom), 0, 0])
    drawing.add(widget)
    return drawing


class LetterShelf:
    """Where letters are kept for printing: one file per notification, grouped by community."""

    def __init__(self, data_dir: Path | str):
        self.root = Path(data_dir) / "letters"

    def path_for(self, community: str | None, notification_id: str) -> Path:
        folder = _SAFE.sub("_", community or "_unknown").lstrip(".") or "_unknown"
        return self.root / folder / f"{_SAFE.sub('_', notification_id)}.pdf"

    def keep(self, community: str | None, notification_id: str, pdf: bytes) -> Path:
        """Write the letter (atomically: a half-written file is never printed)."""
        path = self.path_for(community, notification_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".pdf.partial")
        partial.write_bytes(pdf)
        partial.replace(path)
        return path

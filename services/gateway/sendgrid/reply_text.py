"""The owner's new words in an email reply: quoted history, signature and markup taken out.

Owners reply from phones and webmail (QQ, 163, Outlook, Gmail, Apple Mail) and nearly always
write above the quote. Everything from the first history marker down is dropped: a separator
("-----Original Message-----", "------ 原始邮件 ------"), a header block ("发件人: … 发送时间: …",
"From: … Sent: …"), an attribution ("On … wrote:", "在 … 写道：", "… 于 … 写道："), or the
signature line "-- ". Lines quoted with ">" are dropped wherever they are. If nothing is left above
an attribution, the owner wrote below the quote, and the unquoted lines after it are kept.
"""
from __future__ import annotations

import re
from html.parser import HTMLParser

_SEPARATOR = re.compile(
    r"^-{2,}\s*(?:original message|forwarded message|原始邮件|原始郵件|转发邮件|轉寄郵件)\s*-{2,}$", re.I)
_SIGNATURE = re.compile(r"^-- ?$")
_ATTRIBUTION_EN = re.compile(r"^On\s.+\swrote:?$", re.I)
_ATTRIBUTION_ZH = re.compile(r"(?:写道|寫道)\s*[:：]?$")
# "他写道：" in an owner's own words is no attribution; a client's has a date, an address or 在.
_ATTRIBUTION_ZH_CONTEXT = re.compile(r"^在|@|<|\d{4}\s*[年/.-]")
_HEADER_START = re.compile(r"^\*?(?:From|发件人|發件人|寄件者|寄件人)\*?\s*[:：]", re.I)
_HEADER_NEXT = re.compile(
    r"^\*?(?:Sent|Date|To|Cc|Subject|发送时间|發送時間|时间|時間|日期|收件人|收件者|抄送|主题|主題|主旨|寄件日期)\*?\s*[:：]",
    re.I)
_QUOTED = re.compile(r"^\s*>")
_RULE = re.compile(r"^[-_=*\s]*$")  # a line of nothing but rules, left behind above a cut


def _attribution(line: str) -> bool:
    return bool(_ATTRIBUTION_EN.match(line)
                or (_ATTRIBUTION_ZH.search(line) and _ATTRIBUTION_ZH_CONTEXT.search(line)))


def _attribution_lines(lines: list[str], i: int) -> int:
    """How many lines the attribution starting at line i spans (Gmail wraps long ones): 0, 1 or 2."""
    line = lines[i].strip()
    if _attribution(line):
        return 1
    if i + 1 >= len(lines):
        return 0
    following = lines[i + 1].strip()
    may_start = line.lower().startswith("on ") or line.startswith("在") or "@" in line
    return 2 if may_start and not _attribution(following) and _attribution(f"{line} {following}") else 0


def _is_header_block(lines: list[str], i: int) -> bool:
    if not _HEADER_START.match(lines[i].strip()):
        return False
    following = [line.strip() for line in lines[i + 1:i + 6] if line.strip()][:4]
    return any(_HEADER_NEXT.match(line) for line in following)


def _first_cut(lines: list[str]) -> tuple[int, int]:
    """Where the history starts, and how long its attribution is (0: no attribution, cut for good)."""
    for i, raw in enumerate(lines):
        if _QUOTED.match(raw):
            continue
        if _SEPARATOR.match(raw.strip()) or _SIGNATURE.match(raw) or _is_header_block(lines, i):
            return i, 0
        span = _attribution_lines(lines, i)
        if span:
            return i, span
    return len(lines), 0


def _tidy(lines: list[str]) -> str:
    kept = [line.rstrip() for line in lines if not _QUOTED.match(line)]
    while kept and _RULE.match(kept[-1]):
        kept.pop()
    return re.sub(r"\n{3,}", "\n\n", "\n".join(kept).strip())


def new_text(text: str) -> str:
    """The part of a plain-text reply the owner wrote now."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    at, span = _first_cut(lines)
    above = _tidy(lines[:at])
    if above or not span:
        return above
    # Nothing above the attribution: the owner wrote below the quote (or between its lines).
    return new_text("\n".join(lines[at + span:]))


class _VisibleText(HTMLParser):
    """Text a reader sees in an HTML reply, without quoted blocks (<blockquote>) or styles."""

    HIDDEN = frozenset({"blockquote", "head", "script", "style", "title"})
    BREAKS = frozenset({"br", "p", "div", "li", "tr", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "table"})

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.hidden = 0

    def handle_starttag(self, tag, attrs):
        if tag in self.HIDDEN:
            self.hidden += 1
        elif tag in self.BREAKS and not self.hidden:
            self.parts.append("\n")

    def handle_endtag(self, tag):
        if tag in self.HIDDEN:
            self.hidden = max(0, self.hidden - 1)
        elif tag in self.BREAKS and not self.hidden:
            self.parts.append("\n")

    def handle_data(self, data):
        if not self.hidden:
            self.parts.append(re.sub(r"[ \t\r\n]+", " ", data))


def html_text(html: str) -> str:
    """Plain text from an HTML-only reply, for new_text to read."""
    parser = _VisibleText()
    parser.feed(html)
    parser.close()
    return "\n".join(line.strip() for line in "".join(parser.parts).split("\n"))

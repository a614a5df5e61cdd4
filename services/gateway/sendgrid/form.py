"""Read an Inbound Parse post from the raw request, keeping each field's bytes for its declared charset.

Werkzeug decodes every form field as UTF-8, replacing what does not fit, which garbles a GBK or
Big5 reply beyond repair. So the multipart body is decoded here, part by part, and each field is
decoded with the charset SendGrid names for it in `charsets`. Attachments are counted and
dropped as they stream past: nothing downstream stores them yet, and a phone photo must not
cost memory (SendGrid accepts messages up to 30 MB).
"""
from __future__ import annotations

import codecs
import json
import logging
from dataclasses import dataclass, field
from typing import IO

from werkzeug.http import parse_options_header
from werkzeug.sansio.multipart import Data, Epilogue, Field, File, MultipartDecoder, NeedData

log = logging.getLogger(__name__)

KEPT_FIELDS = frozenset({"from", "to", "cc", "subject", "text", "html", "headers", "envelope", "charsets", "email"})
FIELD_LIMIT = 1024 * 1024  # bytes kept of one field; the rest is dropped rather than the message refused
MAX_PARTS = 1000
CHUNK = 64 * 1024
# Labels mail clients use for a smaller charset than they really write in (as browsers treat them).
WIDER_CHARSET = {"gb2312": "gb18030", "gbk": "gb18030", "big5": "big5hkscs", "ascii": "utf-8",
                 "iso8859-1": "cp1252"}


class MalformedForm(ValueError):
    """Not a multipart/form-data body we can read."""


@dataclass
class InboundForm:
    fields: dict[str, bytearray] = field(default_factory=dict)
    attachments: int = 0
    truncated: set[str] = field(default_factory=set)

    def charsets(self) -> dict[str, str]:
        try:
            declared = json.loads(self.fields.get("charsets", b"{}").decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            declared = None
        if not isinstance(declared, dict):
            log.warning("Inbound Parse charsets unreadable; assuming UTF-8")
            return {}
        return {str(k): str(v) for k, v in declared.items()}

    def text(self, name: str, charsets: dict[str, str]) -> str:
        """The field as text, in its declared charset; "" when absent."""
        raw = bytes(self.fields.get(name, b""))
        charset = charsets.get(name) or "utf-8"
        try:
            charset = codecs.lookup(charset).name
        except LookupError:
            log.warning("Inbound Parse field in an unknown charset", extra={"field": name, "charset": charset[:40]})
            charset = "utf-8"
        try:
            return raw.decode(WIDER_CHARSET.get(charset, charset), "replace")
        except LookupError:  # a bytes-to-bytes codec such as base64 is no text charset
            return raw.decode("utf-8", "replace")


def read_form(stream: IO[bytes], content_type: str) -> InboundForm:
    """Stream the multipart body, keeping the fields we read; MalformedForm if it cannot be parsed."""
    mimetype, options = parse_options_header(content_type)
    boundary = options.get("boundary", "")
    if mimetype != "multipart/form-data" or not boundary or not boundary.isascii():
        raise MalformedForm("Expected multipart/form-data.")
    # The memory cap bounds the decoder's own buffer (part headers); field data is capped below.
    decoder = MultipartDecoder(boundary.encode("ascii"), max_form_memory_size=FIELD_LIMIT, max_parts=MAX_PARTS)
    form = InboundForm()
    current: str | None = None
    try:
        while True:
            chunk = stream.read(CHUNK)
            decoder.receive_data(chunk or None)
            event = decoder.next_event()
            while not isinstance(event, (Epilogue, NeedData)):
                if isinstance(event, File):
                    form.attachments += 1
                    current = None
                elif isinstance(event, Field):
                    current = event.name if event.name in KEPT_FIELDS and event.name not in form.fields else None
                    if current is not None:
                        form.fields[current] = bytearray()
                elif isinstance(event, Data) and current is not None:
                    _keep(form, current, event.data)
                event = decoder.next_event()
            if not chunk:
                return form
    except ValueError as exc:
        raise MalformedForm("The multipart body is malformed.") from exc


def _keep(form: InboundForm, name: str, data: bytes) -> None:
    kept = form.fields[name]
    room = FIELD_LIMIT - len(kept)
    if len(data) > room:
        form.truncated.add(name)
    kept += data[:max(room, 0)]

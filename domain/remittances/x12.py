"""X12 tokenizer: bytes or text in, numbered segments and the separators they were split by out.

Separators come from ISA (element = the character after `ISA`, repetition = ISA11 unless it is an
alphanumeric standards id such as 4010's `U`, component = ISA16, segment terminator = the
character after ISA16). A file without an envelope starts at `ST`; its separators are read from
the ST segment, with `:` as component separator unless the first SVC shows another one.

Tolerated: a UTF-8 BOM, CRLF or LF line breaks and indentation around segments, lines wrapped
inside segments, a newline as the terminator, and a terminator written at the *start* of each
line after the newline (`\\n~GS|…`). Segments are numbered from 1 in file order (ISA is 1);
every later message names that number.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import NamedTuple

from domain.remittances.errors import (
    BAD_SEPARATORS,
    MALFORMED,
    NOT_835,
    TOO_LARGE,
    TRUNCATED,
    RemittanceError,
)

MAX_BYTES = 50 * 1024 * 1024
"""Largest 835 accepted (checked before any parsing): 50 MiB is ~40,000 claims."""

_TAG = re.compile(r"[A-Z][A-Z0-9]{1,2}\Z")
_KNOWN_TAGS = frozenset(
    ("CLP", "SVC", "CAS", "DTM", "REF", "AMT", "QTY", "LQ", "NM1", "MIA", "MOA", "LX", "PLB")
)
_ISA_SCAN = 1024  # more than enough for an ISA (106 characters) wrapped at any width
_TRAILERS = frozenset(("SE", "GE", "IEA"))
_LINE_BREAKS = "\r\n"
_BLANKS = " \t\r\n"


@dataclass(frozen=True, slots=True)
class Separators:
    """The four delimiters of one file (`repetition` is None when ISA11 is a standards id)."""

    element: str = "*"
    component: str = ":"
    repetition: str | None = None
    segment: str = "~"


class Segment(NamedTuple):
    """One segment: its 1-based ordinal in the file, its id and its elements (id excluded).

    A NamedTuple rather than a dataclass: files hold hundreds of thousands of segments."""

    number: int
    tag: str
    elements: tuple[str, ...]

    def get(self, position: int) -> str:
        """Element `position` (1-based, as in `CLP04`), or "" when absent."""
        elements = self.elements
        return elements[position - 1] if 0 < position <= len(elements) else ""

    def name(self, position: int) -> str:
        """The element's reference designator, e.g. `CLP04`."""
        return f"{self.tag}{position:02d}"


@dataclass(frozen=True, slots=True)
class Tokens:
    """A tokenized file: its separators and every non-empty segment in order."""

    separators: Separators
    segments: tuple[Segment, ...]
    has_envelope: bool


def decode(data: bytes | str, max_bytes: int = MAX_BYTES) -> str:
    """The file as text without BOM; refuses oversized, binary and blank input."""
    size, exact = len(data), isinstance(data, bytes)
    if not exact and max_bytes // 4 < size <= 4 * max(max_bytes, MAX_BYTES):  # bytes <= 4 x chars
        size, exact = len(str(data).encode("utf-8", "surrogatepass")), True
    if size > max_bytes:
        what = f"{size} bytes" if exact else f"at least {size} bytes"
        raise RemittanceError(TOO_LARGE, f"the file is {what}; the limit is {max_bytes}")
    if isinstance(data, bytes):
        nul = data.find(b"\x00")
        if nul >= 0:
            raise RemittanceError(NOT_835, f"binary content (a NUL byte at offset {nul})")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            text = data.decode("latin-1")
    else:
        text = data
        if "\x00" in text:
            raise RemittanceError(NOT_835, f"binary content (a NUL at offset {text.index(chr(0))})")
    return text.removeprefix("\ufeff").lstrip(_BLANKS + "\ufeff")


def tokenize(data: bytes | str, max_bytes: int = MAX_BYTES) -> Tokens:
    """Split a file into numbered segments; raise `RemittanceError` when it is not X12."""
    text = decode(data, max_bytes)
    if text.startswith("ISA"):
        separators = isa_separators(text)
    elif text.startswith("ST") and len(text) > 2:
        separators = st_separators(text)
    else:
        raise RemittanceError(NOT_835, f"not an X12 file: it starts with {text[:20]!r}, not ISA")
    segments = split_segments(text, separators)
    if not text.startswith("ISA"):
        separators = _detect_component(segments, separators)
    return Tokens(separators, segments, text.startswith("ISA"))


def isa_separators(text: str) -> Separators:
    """The separators an ISA segment declares (see the module docstring)."""
    element = text[3:4]
    if not element or element.isalnum() or element in _BLANKS:
        raise _bad_separator(f"the element separator {element!r} after ISA is not usable")
    position = _sixteenth_separator(text, element)
    if any(c in text[:position] for c in _LINE_BREAKS):
        # a file wrapped at a fixed width (80 columns) breaks lines inside segments, ISA too
        text = text[:_ISA_SCAN].replace("\r", "").replace("\n", "")
        position = _sixteenth_separator(text, element)
    header = text[:position]
    component = text[position + 1 : position + 2]
    if not component or component.isalnum() or component in _BLANKS:
        what = f"ISA16 (the component separator) {component!r} is not usable"
        raise _bad_separator(f"{what}; does ISA have 16 elements?")
    terminator = _terminator_after(text, position + 2)
    repetition = header.split(element, 12)[11][:1]
    separators = Separators(element, component, _repetition(repetition), terminator)
    _check_distinct(separators)
    if terminator in header:
        raise _bad_separator("ISA does not have 16 elements before its terminator")
    return separators


def _sixteenth_separator(text: str, element: str) -> int:
    """Where the element separator before ISA16 stands."""
    position = 3  # the separator before ISA01
    for _ in range(15):
        position = text.find(element, position + 1)
        if position < 0:
            raise _bad_separator("ISA does not have 16 elements")
    return position


def st_separators(text: str) -> Separators:
    """Separators of a file without envelope, read from its leading ST segment."""
    element = text[2]
    if element.isalnum() or element in _BLANKS:
        raise _bad_separator(f"the element separator {element!r} after ST is not usable", "ST")
    position = 3
    for _ in range(3):  # ST01, ST02 and (5010) ST03 are alphanumeric
        while position < len(text) and text[position].isalnum():
            position += 1
        if text[position : position + 1] != element:
            break
        position += 1
    separators = Separators(element, ":", None, _terminator_after(text, position, "ST"))
    _check_distinct(separators, "ST")
    return separators


def split_segments(text: str, separators: Separators) -> tuple[Segment, ...]:
    """Every non-empty segment, stripped of surrounding blanks and numbered from 1.

    Text after the last terminator is a segment only when it is a trailer (SE, GE, IEA) that
    lost its terminator; anything else there means the data was cut: TRUNCATED."""
    terminator, element = separators.segment, separators.element
    if terminator not in _LINE_BREAKS:
        text = text.replace("\r", "").replace("\n", "")
    pieces = text.split(terminator)
    segments: list[Segment] = []
    append, known = segments.append, _KNOWN_TAGS
    for raw in pieces:
        body = raw.strip(_BLANKS)
        if not body:
            continue
        parts = body.split(element)
        tag = parts[0]
        if tag not in known and not _TAG.match(tag):
            raise _not_a_segment(len(segments) + 1, tag, raw is pieces[-1])
        append(Segment(len(segments) + 1, tag, tuple(parts[1:])))
    tail = pieces[-1].strip(_BLANKS)
    if tail and segments[-1].tag not in _TRAILERS:
        last = segments[-1]
        raise RemittanceError.at(
            last.number, last.tag, TRUNCATED, "the data ends inside this segment (no terminator)"
        )
    return tuple(segments)


def _not_a_segment(number: int, tag: str, last: bool) -> RemittanceError:
    if last:
        what = f"the data ends inside a segment ({tag[:20]!r}, no terminator)"
        return RemittanceError.at(number, tag[:10], TRUNCATED, what)
    what = f"{tag[:20]!r} is not a segment id (bad separators?)"
    return RemittanceError.at(number, tag[:10], MALFORMED, what)


def _terminator_after(text: str, position: int, tag: str = "ISA") -> str:
    """The segment terminator at `position`, looking past a line break for a `~`-like char."""
    char = text[position : position + 1]
    if not char:
        raise _bad_separator("the data ends before the segment terminator", tag)
    if char in _LINE_BREAKS:
        following = text[position:].lstrip(_BLANKS)[:1]
        if following and not following.isalnum() and following != "\ufeff":
            return following
        return "\n"
    if char.isalnum() or char == " ":
        raise _bad_separator(f"the segment terminator {char!r} is a letter, digit or space", tag)
    return char


def _repetition(char: str) -> str | None:
    """ISA11 as a repetition separator, or None when it is a standards id such as `U`."""
    return None if not char or char.isalnum() else char


def _check_distinct(separators: Separators, tag: str = "ISA") -> None:
    """Element, component, repetition and segment separators must all differ."""
    chars = [separators.element, separators.component, separators.segment]
    if separators.repetition is not None:
        chars.append(separators.repetition)
    if separators.component.isalnum() or separators.component in _BLANKS:
        raise _bad_separator(f"the component separator {separators.component!r} is not usable", tag)
    if len(set(chars)) != len(chars):
        raise _bad_separator(f"the separators {chars!r} are not all different", tag)


def _detect_component(segments: tuple[Segment, ...], separators: Separators) -> Separators:
    """Without ISA16, read the component separator off the first composite that shows one:
    SVC01/SVC06 and PLB03..PLB13 start with a two-character code (`HC>99213`, `WO>REF`)."""
    for segment in segments:
        for code in _composites(segment):
            if separators.component in code:
                return separators
            mark = code[2:3]
            if mark and not mark.isalnum() and mark not in (separators.element, " "):
                return Separators(separators.element, mark, None, separators.segment)
    return separators


def _composites(segment: Segment) -> tuple[str, ...]:
    if segment.tag == "SVC":
        return (segment.get(1), segment.get(6))
    if segment.tag == "PLB":
        return segment.elements[2::2]
    return ()


def _bad_separator(what: str, tag: str = "ISA") -> RemittanceError:
    return RemittanceError.at(1, tag, BAD_SEPARATORS, what)

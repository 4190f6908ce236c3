"""Sections of docs/gas.md that a benchmark owns: each between `<!-- NAME:begin -->` and
`<!-- NAME:end -->`, rewritten in place by its own script (bench_options_gas.py: options-gas,
bench_liquidation_gas.py: liquidation-gas); gas_report.py rewrites the head of the file and keeps them."""

from __future__ import annotations

from pathlib import Path


def markers(name: str) -> tuple[str, str]:
    return f"<!-- {name}:begin -->", f"<!-- {name}:end -->"


def section_text(path: Path, name: str) -> str | None:
    """What lies between `name`'s markers in `path`, None without them."""
    begin, end = markers(name)
    text = path.read_text() if path.exists() else ""
    if begin not in text or end not in text:
        return None
    return text.split(begin, 1)[1].split(end, 1)[0]


def replace_section(path: Path, name: str, section: str) -> None:
    """`section` (its markers included) in place of `name`'s, or appended; the rest of the file as it was."""
    begin, end = markers(name)
    text = path.read_text() if path.exists() else ""
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        # `section` ends with its own newline; what followed the old one (a blank line, notes) stays
        text = head + section + rest.split(end, 1)[1].removeprefix("\n")
    else:
        text = text.rstrip("\n") + ("\n\n" if text else "") + section
    path.write_text(text)


def kept_sections(path: Path) -> str:
    """Everything from the first benchmark's section on (with the notes written after it), for a script
    that rewrites what comes before."""
    text = path.read_text() if path.exists() else ""
    start = text.find("<!-- ")
    return "\n" + text[start:] if start >= 0 and ":begin -->" in text[start:] else ""

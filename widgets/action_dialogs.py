"""How an action's plan reads in a dialog: its lines, styled by what they mean.

Plain data in (the lines an action plan prints, so the console and the CLI say the same), a Rich `Text`
out: refusals stand out, the preview and the server's answer are marked, manifests stay quiet. The
widget never calls the API; the dialog screens hand it what their workers computed.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.style import Style
from rich.text import Text

from widgets.palette import Palette

SECTION_HEADS = ("Manifests:", "Changes:", "To make room", "Waiting workloads", "No running workload")


def plan_text(lines: Sequence[str], palette: Palette | None = None) -> Text:
    """The plan's lines as one Text: refusals in the bad colour, the typed phrase bold, previews marked."""
    p = palette or Palette()
    out = Text()
    for i, line in enumerate(lines):
        if i:
            out.append("\n")
        if i == 0:
            out.append(line, Style(bold=True))
        elif line.startswith("Refused:"):
            out.append(line, Style.combine([p.bad, Style(bold=True)]))
        elif line.startswith("To go ahead"):
            out.append(line, Style(bold=True))
        elif line.startswith("Preview"):
            out.append(line, Style.combine([p.info, Style(bold=True)]))
        elif line.startswith("Server dry run"):
            out.append(line, p.ok if "refused" not in line else p.bad)
        elif line.startswith("Note:"):
            out.append(line, p.warn)
        elif line.startswith(SECTION_HEADS):
            out.append(line, Style(bold=True))
        elif "would stay Pending" in line or "pending" in line.lower() and line.startswith("  "):
            out.append(line, p.warn)
        else:
            out.append(line)
    return out


def message_text(message: str, ok: bool, palette: Palette | None = None) -> Text:
    """One outcome or error line for the dialog's message area."""
    p = palette or Palette()
    return Text(message, Style.combine([p.ok if ok else p.bad, Style(bold=not ok)]))

"""The console's themes (registered at start) and its stylesheet.

Every colour in `base.tcss` is a theme variable, so each theme, Textual's own included, restyles the
whole console. Extra variables: `holder-1` … `holder-8` colour workloads on GPU bars, `gpu-free` the
free part of a GPU and `quota-over` use above quota.
"""

from __future__ import annotations

from pathlib import Path

from textual.theme import Theme

CSS_PATH = Path(__file__).parent / "base.tcss"
DEFAULT_THEME = "gpuconsole-dark"

THEMES: tuple[Theme, ...] = (
    Theme(
        name="gpuconsole-dark", dark=True,
        primary="#5AA9E6", secondary="#7F7EFF", accent="#F5B841", warning="#F5B841", error="#F25F5C",
        success="#5BC489", foreground="#DADDE1", background="#101418", surface="#151A20", panel="#1F2630",
        variables={
            "holder-1": "#5AA9E6", "holder-2": "#F08A5D", "holder-3": "#B983FF", "holder-4": "#5BC489",
            "holder-5": "#F5B841", "holder-6": "#4ECDC4", "holder-7": "#FF6F91", "holder-8": "#C3E88D",
            "gpu-free": "#4A5563", "quota-over": "#F5B841",
            "block-cursor-background": "#2B4F6E", "block-cursor-foreground": "#FFFFFF",
            "block-cursor-blurred-background": "#233140",
        },
    ),
    Theme(
        name="gpuconsole-light", dark=False,
        primary="#1F6FB2", secondary="#5B4FCF", accent="#B26B00", warning="#B26B00", error="#C0392B",
        success="#1E8449", foreground="#1C2833", background="#F7F9FB", surface="#FFFFFF", panel="#E6EBF0",
        variables={
            "holder-1": "#1F6FB2", "holder-2": "#D35400", "holder-3": "#7D3C98", "holder-4": "#1E8449",
            "holder-5": "#B7950B", "holder-6": "#117A65", "holder-7": "#C0392B", "holder-8": "#5D6D7E",
            "gpu-free": "#AAB7C4", "quota-over": "#B26B00",
            "block-cursor-background": "#CFE3F5", "block-cursor-foreground": "#000000",
            "block-cursor-blurred-background": "#E3ECF5",
        },
    ),
    Theme(
        name="gpuconsole-contrast", dark=True,
        primary="#00BFFF", secondary="#FFFFFF", accent="#FFFF00", warning="#FFFF00", error="#FF3030",
        success="#00FF7F", foreground="#FFFFFF", background="#000000", surface="#000000", panel="#202020",
        variables={
            "holder-1": "#00BFFF", "holder-2": "#FF8C00", "holder-3": "#FF00FF", "holder-4": "#00FF7F",
            "holder-5": "#FFFF00", "holder-6": "#00FFFF", "holder-7": "#FF3030", "holder-8": "#FFFFFF",
            "gpu-free": "#808080", "quota-over": "#FFFF00", "text-muted": "#C0C0C0",
            "block-cursor-background": "#FFFF00", "block-cursor-foreground": "#000000",
            "block-cursor-blurred-background": "#404040",
        },
    ),
    Theme(
        # For terminals without truecolor (and for users who want their terminal's own palette).
        name="gpuconsole-ansi", dark=True, ansi=True,
        primary="ansi_blue", secondary="ansi_cyan", accent="ansi_yellow", warning="ansi_yellow", error="ansi_red",
        success="ansi_green", foreground="ansi_default", background="ansi_default", surface="ansi_default",
        panel="ansi_default", boost="ansi_default",
        variables={
            "holder-1": "ansi_blue", "holder-2": "ansi_magenta", "holder-3": "ansi_cyan", "holder-4": "ansi_green",
            "holder-5": "ansi_yellow", "holder-6": "ansi_bright_blue", "holder-7": "ansi_red",
            "holder-8": "ansi_bright_magenta", "gpu-free": "ansi_bright_black", "quota-over": "ansi_yellow",
            "ansi-background": "ansi_black", "ansi-foreground": "ansi_white",
            "text-muted": "ansi_bright_black",
            "block-cursor-background": "ansi_blue", "block-cursor-foreground": "ansi_bright_white",
            "block-cursor-blurred-background": "ansi_bright_black", "border": "ansi_blue",
            "border-blurred": "ansi_bright_black", "footer-background": "ansi_default",
            "footer-key-foreground": "ansi_yellow", "footer-description-foreground": "ansi_default",
            "input-cursor-background": "ansi_white", "input-cursor-foreground": "ansi_black",
            "input-selection-background": "ansi_bright_blue",
        },
    ),
)
THEME_NAMES = tuple(t.name for t in THEMES)

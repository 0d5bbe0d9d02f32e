"""Which of Textual's themes the player offers (ctrl+p, Theme): those its looks stay legible on.

The colour scale paints each token's cell in its colour with black or white text chosen for it,
so it reads on any theme. What a theme can spoil are player.tcss's fixed looks, drawn over the
theme's surface: the current step's tokens (black on ANSI white) and the masked
positions' grey dots. On a light theme the current step's white cells vanish into the surface;
on a few dark ones the grey dots sink below 3:1. A theme is offered when both keep at least
MIN_CONTRAST against its surface (WCAG's ratio for graphical objects); the others are
unregistered, so neither the picker nor `App.theme` can choose them.
"""

from __future__ import annotations

from textual.app import App
from textual.color import Color
from textual.theme import Theme

MIN_CONTRAST = 3.0
MASKED = Color(128, 128, 128)  # #808080, player.tcss's masked look
TERMINAL_BACKGROUND = {True: Color(0, 0, 0), False: Color(255, 255, 255)}  # ANSI themes: the terminal's own


def luminance(colour: Color) -> float:
    """WCAG 2 relative luminance, 0 (black) to 1 (white)."""
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in colour.normalized]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: Color, b: Color) -> float:
    """WCAG 2 contrast ratio, 1 (the same) to 21 (black on white)."""
    lighter, darker = sorted((luminance(a), luminance(b)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def surface_of(theme: Theme) -> Color:
    """The colour the grid is drawn on under a theme ($surface, as Textual derives it)."""
    surface = theme.to_color_system().generate()["surface"]
    try:
        colour = Color.parse(surface)
    except Exception:  # an ANSI theme: ansi_default, transparent
        return TERMINAL_BACKGROUND[theme.dark]
    return colour if colour.a == 1 else TERMINAL_BACKGROUND[theme.dark]


def current_background(app: App, theme: Theme) -> Color:
    """player.tcss's ansi_white under a theme, as Textual draws ANSI colours (its ANSI theme for dark or light)."""
    ansi = app.ansi_theme_dark if theme.dark else app.ansi_theme_light
    return Color(*ansi.ansi_colors[7])


def legible(app: App, theme: Theme) -> bool:
    surface = surface_of(theme)
    return min(contrast(current_background(app, theme), surface), contrast(MASKED, surface)) >= MIN_CONTRAST


def keep_legible_themes(app: App) -> None:
    """Unregister the themes the player's looks are not legible on (the current one stays)."""
    for name, theme in list(app.available_themes.items()):
        if name != app.theme and not legible(app, theme):
            app.unregister_theme(name)

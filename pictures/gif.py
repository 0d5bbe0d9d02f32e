"""The denoising as an animated GIF: a frame per step (or per `every` steps), Pillow drawing it.

The frames share one layout (answer.py), so nothing moves but the tokens landing; each frame
redraws only the cells that changed since the last one. Fonts: DejaVu Sans Mono where it is
installed (most Linux systems; Debian's fonts-dejavu-core), else Pillow's own font, which is
not monospaced and lacks many glyphs (they show as boxes): install DejaVu for good GIFs. Every
frame is mapped to one palette, so the colours do not flicker from frame to frame: the scale in
LEVELS exact colours (as the player's), the fixed looks, and the shades of anti-aliased text
taken from the first, a middle and the last frame. Pillow is the `[export]` extra, imported here only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import IO, Any, NamedTuple

from llada_tui.core.run_index import RunIndex
from llada_tui.pictures.answer import PLACEHOLDER, SPECIAL_MARK, AnswerPicture, Cell, Kind, prompt_lines, scale_labels
from llada_tui.pictures.shading import RGB, Shading, fraction_of, mix, text_on

FONT_FILE = "DejaVuSansMono.ttf"
SIZE, SMALL = 16, 12  # px: the answer's type, the prompt's and the legend's
LINE, SMALL_LINE = 22, 16  # px between lines
MARGIN = 14
GRADIENT_WIDTH = 160
BACKGROUND: RGB = (255, 255, 255)
INK: RGB = (26, 26, 26)
MUTED: RGB = (128, 128, 128)
REMASKED: RGB = (192, 0, 192)
CURRENT = ((255, 255, 255), (0, 0, 0))  # the last step's tokens: fill, text and outline
DEFAULT_FRAMES = 256  # at most, unless `every` says otherwise: Pillow holds every frame until it writes
FRAME_MEMORY = 1 << 30  # bytes of frames (a byte a pixel) Pillow may hold; fewer frames by default past it
MAX_SIDE = 65535  # pixels: a GIF's width and height are 16-bit
HOLD_LAST_MS = 2500  # the finished answer stays a while before the GIF loops
LEVELS = 64  # colours of the scale, exact in the palette

Progress = Callable[[int, int], None]  # (frames drawn, frames in all)


class Mark(NamedTuple):
    """A legend entry: its text in the look of the cells it explains."""

    text: str
    colour: RGB
    underline: bool = False
    boxed: bool = False


class PillowMissing(Exception):
    """GIFs need Pillow, which the base install leaves out."""


class GifTooLarge(Exception):
    """A GIF that could not be written: too tall, or too many frames to hold in memory."""


def pillow() -> Any:
    try:
        import PIL.Image  # noqa: F401
        import PIL.ImageDraw  # noqa: F401
        import PIL.ImageFont  # noqa: F401
    except ImportError as error:
        raise PillowMissing(str(error)) from None
    import PIL

    return PIL


def frame_steps(length: int, every: int | None, most: int = DEFAULT_FRAMES + 1) -> list[int]:
    """The timeline positions the frames show: 0, every, 2·every, ... and always the end; without
    `every`, each step while that makes at most `most` frames."""
    if every is None:
        every = max(1, -(-length // max(1, min(DEFAULT_FRAMES, most - 1))))
    steps = list(range(0, length, every))
    return [*steps, length]


def load_font(size: int) -> Any:
    """DejaVu Sans Mono if Pillow finds it among the system's fonts, else Pillow's built-in font."""
    from PIL import ImageFont

    try:
        return ImageFont.truetype(FONT_FILE, size)
    except OSError:
        return ImageFont.load_default(size)


class GifPainter:
    """One canvas the frames are drawn on, cell by cell."""

    def __init__(self, run: RunIndex, shading: Shading, columns: int):
        from PIL import Image, ImageDraw

        self.run, self.shading = run, shading
        self.picture = AnswerPicture(run, columns)
        self.font, self.small = load_font(SIZE), load_font(SMALL)
        self.cell = self.font.getlength("M")
        small_cell = self.small.getlength("M")
        width = round(self.picture.columns * self.cell) + 2 * MARGIN
        width = max(width, round(self._legend_width()) + 2 * MARGIN)  # a long legend widens a narrow picture
        self.prompt = prompt_lines(run, int(self.picture.columns * self.cell / small_cell))
        self.top = MARGIN + len(self.prompt) * SMALL_LINE + 8
        self.legend_y = self.top + max(1, self.picture.lines) * LINE + 10
        self.image = Image.new("RGB", (width, self.legend_y + SMALL_LINE + MARGIN), BACKGROUND)
        self.draw = ImageDraw.Draw(self.image)
        for i, line in enumerate(self.prompt):
            self.draw.text((MARGIN, MARGIN + i * SMALL_LINE), line, font=self.small, fill=MUTED)
        self._shown: list[Cell | None] = [None] * len(self.picture.slots)

    def frame(self, t: int) -> Any:
        """The canvas as it shows the answer after t steps."""
        cells = self.picture.cells_at(t)
        for i, (slot, cell) in enumerate(zip(self.picture.slots, cells)):
            if cell != self._shown[i]:
                self._draw_cell(slot.column, slot.line, slot.width, cell)
                self._shown[i] = cell
        self._draw_legend(t, any(cell.current for cell in cells))
        return self.image

    def _draw_cell(self, column: int, line: int, width: int, cell: Cell) -> None:
        x0, x1 = MARGIN + round(column * self.cell), MARGIN + round((column + width) * self.cell)
        y = self.top + line * LINE
        box = (x0, y + 1, x1 - 1, y + LINE - 1)
        self.draw.rectangle((x0, y, x1 - 1, y + LINE - 1), fill=BACKGROUND)
        underline = cell.revised
        if cell.kind is Kind.MASKED:
            ink = REMASKED if cell.revised else MUTED
            underline = False
        elif cell.current:
            fill, ink = CURRENT
            self.draw.rectangle(box, fill=fill, outline=ink)
            underline = True
        else:
            fraction = fraction_of(self.shading, cell.step, self.run.total_steps, cell.confidence)
            fill = level_colour(self.shading, round(fraction * (LEVELS - 1)))
            ink = text_on(fill)
            self.draw.rectangle(box, fill=fill)
        self.draw.text((x0, y + 3), cell.text, font=self.font, fill=ink)
        if underline:
            self.draw.line((x0, y + LINE - 4, x1 - 2, y + LINE - 4), fill=ink)

    def _legend_marks(self, t: int, current: bool) -> tuple[str, list[Mark]]:
        """The legend's start (before its scale) and the marks after it, each drawn as the cells it explains."""
        title, low, high = scale_labels(self.run, self.shading)
        marks = [Mark(high, INK)]
        if current:
            marks.append(Mark("this step", CURRENT[1], underline=True, boxed=True))
        marks += [Mark(f"{PLACEHOLDER * 3} masked", MUTED), Mark(f"{SPECIAL_MARK} special", INK)]
        if self.run.header.revises:
            marks += [Mark("revised", INK, underline=True), Mark(f"{PLACEHOLDER * 3} re-masked", REMASKED)]
        marks.append(Mark(f"after step {t} of {self.run.total_steps}", MUTED))
        return f"{title} {low}", marks

    def _legend_width(self) -> float:
        start, marks = self._legend_marks(max(self.run.length, self.run.total_steps), True)  # the longest it gets
        texts = [start + " ", " ", *(mark.text + "   " for mark in marks)]
        return GRADIENT_WIDTH + sum(self.small.getlength(text) for text in texts)

    def _draw_legend(self, t: int, current: bool) -> None:
        y, draw, small = self.legend_y, self.draw, self.small
        draw.rectangle((0, y, self.image.width, y + SMALL_LINE), fill=BACKGROUND)
        start, marks = self._legend_marks(t, current)
        draw.text((MARGIN, y), start, font=small, fill=INK)
        x = MARGIN + draw.textlength(start + " ", font=small)
        for i in range(GRADIENT_WIDTH):
            level = round(i / (GRADIENT_WIDTH - 1) * (LEVELS - 1))
            draw.line((x + i, y + 2, x + i, y + SMALL_LINE - 3), fill=level_colour(self.shading, level))
        x += GRADIENT_WIDTH + draw.textlength(" ", font=small)
        for mark in marks:
            width = draw.textlength(mark.text, font=small)
            if mark.boxed:
                draw.rectangle((x - 2, y, x + width + 1, y + SMALL_LINE - 1), outline=mark.colour)
            draw.text((x, y), mark.text, font=small, fill=mark.colour)
            if mark.underline:
                draw.line((x, y + SMALL_LINE - 3, x + width, y + SMALL_LINE - 3), fill=mark.colour)
            x += draw.textlength(mark.text + "   ", font=small)


def write_gif(
    run: RunIndex,
    file: IO[bytes],
    *,
    shading: Shading = Shading.STEP,
    columns: int = 80,
    fps: float = 10.0,
    every: int | None = None,
    progress: Progress | None = None,
) -> int:
    """Write the run's denoising as a looping GIF; returns the number of frames."""
    image_module = pillow().Image
    painter = GifPainter(run, shading, columns)
    width, height = painter.image.size
    if max(width, height) > MAX_SIDE:
        raise GifTooLarge(
            f"the answer would be a GIF {width}×{height} pixels, more than {MAX_SIDE} a side: give a larger --width"
        )
    most = max(2, FRAME_MEMORY // (width * height))
    steps = frame_steps(run.length, every, most)
    if len(steps) > most:
        fewer = -(-run.length // (most - 1))
        raise GifTooLarge(
            f"{len(steps)} frames of {width}×{height} pixels would hold {len(steps) * width * height >> 20} MB "
            f"until written: give --every {fewer} or more"
        )
    palette = shared_palette(run, shading, columns, steps)
    frames = []
    for i, t in enumerate(steps):
        frames.append(painter.frame(t).quantize(palette=palette, dither=image_module.Dither.NONE))
        if progress is not None:
            progress(i + 1, len(steps))
    durations = [round(1000 / fps)] * (len(frames) - 1) + [HOLD_LAST_MS]
    frames[0].save(file, format="GIF", save_all=True, append_images=frames[1:], duration=durations, loop=0)
    return len(frames)


def level_colour(shading: Shading, level: int) -> RGB:
    return mix(shading.stops, level / (LEVELS - 1))


def shared_palette(run: RunIndex, shading: Shading, columns: int, steps: list[int]) -> Any:
    """One palette for every frame: the exact colours, then the shades of the first, a middle
    and the last frame."""
    image_module = pillow().Image
    exact = [BACKGROUND, INK, MUTED, REMASKED, *CURRENT, *(level_colour(shading, i) for i in range(LEVELS))]
    exact = list(dict.fromkeys(exact))
    painter = GifPainter(run, shading, columns)
    samples = [painter.frame(t).copy() for t in (steps[0], steps[len(steps) // 2], steps[-1])]
    width, height = samples[0].size
    sheet = image_module.new("RGB", (width, height * len(samples)))
    for i, sample in enumerate(samples):
        sheet.paste(sample, (0, i * height))
    found = sheet.quantize(256 - len(exact), method=image_module.Quantize.MEDIANCUT).getpalette() or []
    # Pillow maps a pixel to a palette colour at 5 bits a channel: a shade so near an exact
    # colour would take its pixels, so it is left out
    taken = {coarse(colour) for colour in exact}
    shades = [tuple(found[i : i + 3]) for i in range(0, len(found) - 2, 3)]
    shades = [shade for shade in shades if coarse(shade) not in taken][: 256 - len(exact)]
    palette = image_module.new("P", (1, 1))
    palette.putpalette([value for colour in [*exact, *shades] for value in colour])
    return palette


def coarse(colour: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(value >> 3 for value in colour)

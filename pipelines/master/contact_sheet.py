"""Contact sheets: one PNG showing a thumbnail per shot (ACES 2.0 sRGB view), labelled.

For people reviewing a sequence at a glance. The PNG is display-referred 8-bit
and must never be used as, or measured in place of, a master. Output bytes
depend only on the inputs (no timestamps or text chunks), so a sheet can be
content-addressed like any other artefact.
"""

from __future__ import annotations

import io
import math

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from pipelines.color.display import thumbnail

PADDING = 8
TITLE_HEIGHT = 36
LABEL_HEIGHT = 22
_TITLE_SIZE = 18
_LABEL_SIZE = 13
_BACKGROUND = (18, 18, 18)
_STRIP = (40, 40, 40)
_LETTERBOX = (0, 0, 0)
_LABEL_TEXT = (225, 225, 225)
_TITLE_TEXT = (255, 255, 255)

Font = ImageFont.FreeTypeFont | ImageFont.ImageFont


def _font(size: int) -> Font:
    try:
        return ImageFont.load_default(size=size)  # scalable, Pillow >= 10.1
    except TypeError:
        return ImageFont.load_default()


def _fit(text: str, font: Font, width: int) -> str:
    """``text``, cut with an ellipsis so it fits ``width`` pixels."""
    if font.getlength(text) <= width:
        return text
    while text and font.getlength(text + "…") > width:
        text = text[:-1]
    return text + "…"


def _draw_text(draw: ImageDraw.ImageDraw, box: tuple[int, int, int, int], text: str,
               font: Font, fill: tuple[int, int, int]) -> None:
    """Left-aligned, vertically centred in ``box``; works for bitmap and FreeType fonts."""
    x0, y0, x1, y1 = box
    text = _fit(text, font, x1 - x0)
    left, top, _, bottom = draw.textbbox((0, 0), text, font=font)
    draw.text((x0 - left, y0 + (y1 - y0 - (bottom - top)) // 2 - top), text, font=font, fill=fill)


def contact_sheet(
    tiles: list[tuple[str, np.ndarray]],
    *,
    title: str,
    columns: int = 4,
    tile_width: int = 240,
    exact: bool = False,
) -> bytes:
    """PNG bytes: ``title`` on top, then a grid of labelled thumbnails of ACEScg frames.

    Thumbnails go through the sRGB ACES 2.0 view (pipelines.color.display);
    ``exact`` uses OCIO's processor instead of the baked view.
    """
    if not tiles:
        raise ValueError("a contact sheet needs at least one tile")
    if columns < 1 or tile_width < 1:
        raise ValueError(f"columns and tile_width must be positive, got {columns}, {tile_width}")
    thumbs = [thumbnail(rgb, tile_width, exact=exact) for _, rgb in tiles]
    # Cells share the tallest thumbnail's height so rows line up; shorter
    # (wider-aspect) thumbnails are letterboxed in black, like a monitor would.
    cell_height = max(t.shape[0] for t in thumbs)
    cols = min(columns, len(tiles))
    rows = math.ceil(len(tiles) / cols)
    width = PADDING + cols * (tile_width + PADDING)
    height = TITLE_HEIGHT + rows * (cell_height + LABEL_HEIGHT + PADDING)

    sheet = Image.new("RGB", (width, height), _BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    _draw_text(draw, (PADDING, 0, width - PADDING, TITLE_HEIGHT), title, _font(_TITLE_SIZE), _TITLE_TEXT)
    label_font = _font(_LABEL_SIZE)
    for i, ((label, _), thumb) in enumerate(zip(tiles, thumbs)):
        row, col = divmod(i, cols)
        x = PADDING + col * (tile_width + PADDING)
        y = TITLE_HEIGHT + row * (cell_height + LABEL_HEIGHT + PADDING)
        draw.rectangle((x, y, x + tile_width - 1, y + cell_height - 1), fill=_LETTERBOX)
        sheet.paste(Image.fromarray(thumb), (x, y + (cell_height - thumb.shape[0]) // 2))
        strip = (x, y + cell_height, x + tile_width, y + cell_height + LABEL_HEIGHT)
        draw.rectangle((strip[0], strip[1], strip[2] - 1, strip[3] - 1), fill=_STRIP)
        _draw_text(draw, (strip[0] + 4, strip[1], strip[2] - 4, strip[3]), label, label_font, _LABEL_TEXT)

    out = io.BytesIO()
    # No pnginfo is passed, so Pillow writes only IHDR/IDAT/IEND: no tIME chunk.
    sheet.save(out, format="PNG", compress_level=6)
    return out.getvalue()

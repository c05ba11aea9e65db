"""The console's 30-day chart (bot/console/chart.py computes its shapes) drawn as a PNG for
the digest email, with Pillow (installed with Rasa's matplotlib; its bundled font, so no
font files are needed). The same bars, colours, axis labels and legend as the console."""
from __future__ import annotations

import io

from PIL import Image, ImageDraw, ImageFont

from bot.console.chart import Chart

LEGEND_HEIGHT = 26
TEXT, GRID, AXIS = "#212529", "#dee2e6", "#495057"


def render(chart: Chart, scale: int = 2) -> bytes:
    """PNG bytes; drawn at `scale` times the console's size, for sharp text on any screen."""
    width, height = chart.width * scale, (chart.height + LEGEND_HEIGHT) * scale
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=10 * scale)

    def px(value: float) -> int:
        return round(value * scale)

    for y in chart.gridlines:
        draw.line([(px(chart.plot_left), px(y)), (px(chart.plot_right), px(y))], fill=GRID,
                  width=scale)
    for bar in chart.bars:
        draw.rectangle([px(bar.x), px(bar.y), px(bar.x + bar.width) - 1,
                        px(bar.y + bar.height) - 1], fill=bar.colour)
    draw.line([(px(chart.plot_left), px(chart.baseline)), (px(chart.plot_right), px(chart.baseline))],
              fill=AXIS, width=scale)
    for tick in chart.y_labels:  # right-aligned at x, like text-anchor="end"
        draw.text((px(tick.x), px(tick.y)), tick.text, fill=TEXT, font=font, anchor="rs")
    for tick in chart.x_labels:  # centred, like text-anchor="middle"
        draw.text((px(tick.x), px(tick.y)), tick.text, fill=TEXT, font=font, anchor="ms")
    x, y = px(chart.plot_left), px(chart.height + 8)
    for label, colour in chart.legend:
        draw.rectangle([x, y, x + px(10) - 1, y + px(10) - 1], fill=colour)
        draw.text((x + px(14), y + px(9)), label, fill=TEXT, font=font, anchor="ls")
        x += px(14) + round(draw.textlength(label, font=font)) + px(16)
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()

"""Draw Courier's add-in icons (a white envelope on an Office-blue tile) as PNG files.

Pure Python (zlib + struct), 4x4 supersampled for smooth edges, deterministic bytes, so the
committed PNGs can be regenerated and compared: `python tools/make_icons.py`.
"""

from __future__ import annotations

import struct
import sys
import zlib
from pathlib import Path

SIZES = (16, 25, 32, 48, 64, 80, 128)
OUT_DIR = Path(__file__).resolve().parent.parent / "addin" / "assets"
BLUE = (0, 120, 212)
WHITE = (255, 255, 255)
SAMPLES = 4


def _inside_tile(x: float, y: float) -> bool:
    """A square with rounded corners (radius 18% of the side) on the unit square."""
    r = 0.18
    cx = min(max(x, r), 1 - r)
    cy = min(max(y, r), 1 - r)
    return (x - cx) ** 2 + (y - cy) ** 2 <= r * r


def _on_envelope(x: float, y: float, stroke: float) -> bool:
    left, right, top, bottom = 0.2, 0.8, 0.3, 0.72
    if not (left - stroke <= x <= right + stroke and top - stroke <= y <= bottom + stroke):
        return False
    border = (
        abs(x - left) <= stroke
        or abs(x - right) <= stroke
        or abs(y - top) <= stroke
        or abs(y - bottom) <= stroke
    )
    # The flap: two lines from the top corners meeting at the centre.
    mid_x, mid_y = 0.5, 0.53
    if x <= mid_x:
        fy = top + (mid_y - top) * (x - left) / (mid_x - left)
    else:
        fy = top + (mid_y - top) * (right - x) / (right - mid_x)
    flap = abs(y - fy) <= stroke * 1.2 and top <= y <= mid_y + stroke
    return border or flap


def pixels(size: int) -> list[bytes]:
    stroke = max(0.045, 1.0 / size)
    rows = []
    for py in range(size):
        row = bytearray([0])  # filter type: none
        for px in range(size):
            tile = white = 0
            for sy in range(SAMPLES):
                for sx in range(SAMPLES):
                    x = (px + (sx + 0.5) / SAMPLES) / size
                    y = (py + (sy + 0.5) / SAMPLES) / size
                    if _inside_tile(x, y):
                        tile += 1
                        if _on_envelope(x, y, stroke):
                            white += 1
            n = SAMPLES * SAMPLES
            alpha = round(255 * tile / n)
            if tile:
                w = white / tile
                rgb = [round(b + (wt - b) * w) for b, wt in zip(BLUE, WHITE, strict=True)]
            else:
                rgb = [0, 0, 0]
            row += bytes([*rgb, alpha])
        rows.append(bytes(row))
    return rows


def png(size: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", size, size, 8, 6, 0, 0, 0)  # 8-bit RGBA
    data = zlib.compress(b"".join(pixels(size)), 9)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")
    )


def main(out_dir: Path = OUT_DIR) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    for size in SIZES:
        path = out_dir / f"icon-{size}.png"
        path.write_bytes(png(size))
        print(f"wrote {path} ({size}x{size})")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT_DIR)

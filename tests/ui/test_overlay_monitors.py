"""The overlay on two monitors with different scale factors, end to end on a real X
server of its own: known pixels on the screen -> capture -> drag -> the prepared PNG
holds exactly those pixels."""

from __future__ import annotations

import pytest

from tests.xserver import TWO_MONITORS, qt_json, run_qt_script, xvfb

SCRIPT = r"""
import io, json, sys
from PIL import Image
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QGuiApplication, QImage, QPainter
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QWidget
from desktop_app.capture import Capturer
from desktop_app.core.imaging import image_from_bgra, prepare_image
from desktop_app.ui.overlay import RegionOverlay
from tests.xserver import block_pattern

app = QApplication(sys.argv[:1])
full = block_pattern(3200, 1080, seed=5)           # the whole X screen, physical pixels
raw = full.convert("RGBX").tobytes("raw", "BGRX")
pattern = QImage(raw, 3200, 1080, 3200 * 4, QImage.Format.Format_RGB32)

class Board(QWidget):                               # paints its screen's part 1:1
    def __init__(self, screen):
        super().__init__()
        self.setWindowFlags(Qt.WindowType.FramelessWindowHint)
        self.setScreen(screen)
        g = screen.geometry()
        self.setGeometry(g)
        dpr = screen.devicePixelRatio()
        part = pattern.copy(g.x(), g.y(), round(g.width() * dpr), round(g.height() * dpr))
        part.setDevicePixelRatio(dpr)
        self.part = part
    def paintEvent(self, event):
        QPainter(self).drawImage(QPointF(0, 0), self.part)

boards = [Board(s) for s in QGuiApplication.screens()]
for b in boards:
    b.show()
for _ in range(40):
    app.processEvents()
    QTest.qWait(10)
capturer = Capturer()
capturer.warm()
pictures = capturer.capture()
for b in boards:
    b.close()

def select(screen_name, a, b):
    overlay = RegionOverlay(pictures)
    got = []
    overlay.region_selected.connect(got.append)
    overlay.show()
    QTest.qWait(50)
    w = next(w for w in overlay.windows if w.picture.name == screen_name)
    QTest.mousePress(w, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, QPoint(*a))
    QTest.mouseMove(w, QPoint(*b))
    QTest.mouseRelease(w, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, QPoint(*b))
    QTest.qWait(20)
    sel = got[0]
    data, width, height, stride = sel.picture.crop_bgra(*sel.rect)
    prepared = prepare_image(image_from_bgra(data, width, height, stride))
    sent = Image.open(io.BytesIO(prepared.data)).convert("RGB")
    gx = sel.picture.geometry[0]
    x, y, w_, h_ = sel.rect
    want = full.crop((gx + x, y, gx + x + w_, y + h_))
    return {"rect": list(sel.rect), "sent": [prepared.width, prepared.height],
            "exact": sent.tobytes() == want.tobytes(),
            "global": [sel.global_rect.x(), sel.global_rect.y(), sel.global_rect.width(),
                       sel.global_rect.height()]}

out = {
    "screens": {p.name: [list(p.geometry), p.device_pixel_ratio, list(p.physical_size)]
                for p in pictures},
    "right": select("RIGHT", (50, 60), (210, 188)),
    "left": select("LEFT", (1500, 200), (1820, 456)),
    # a drag that starts on LEFT and runs onto RIGHT stops at LEFT's edge
    "span": select("LEFT", (1792, 300), (2300, 812)),
}
capturer.close()
print(json.dumps(out))
"""


@pytest.mark.slow
def test_two_monitors_mixed_scale_exact_pixels() -> None:
    with xvfb(3200, 1080, monitors=TWO_MONITORS) as server:
        result = qt_json(run_qt_script(server.display, SCRIPT, scale_factors="LEFT=1;RIGHT=2"))
    assert result["screens"] == {
        "LEFT": [[0, 0, 1920, 1080], 1.0, [1920, 1080]],
        "RIGHT": [[1920, 0, 640, 540], 2.0, [1280, 1080]],
    }
    right = result["right"]
    assert right["rect"] == [100, 120, 320, 256]  # logical x2 on the ratio-2 screen
    assert right["sent"] == [320, 256]
    assert right["exact"]
    assert right["global"] == [1970, 60, 160, 128]  # where the panel goes: logical
    left = result["left"]
    assert left["rect"] == [1500, 200, 320, 256]
    assert left["exact"]
    span = result["span"]
    assert span["rect"] == [1792, 300, 128, 512]  # clamped to the screen the drag began on
    assert span["exact"]

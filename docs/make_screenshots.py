"""Takes the README's screenshots of the overlay and the panel, for real, on an X server.

    xvfb-run -s "-screen 0 1600x900x24" .venv/bin/python docs/make_screenshots.py

A document window is shown, the screen is captured, the overlay is driven with synthetic
mouse input, and the panel streams an answer from a loopback server speaking vLLM's
stream shape; then the settings dialog tests a connection to that server. Writes
docs/overlay.png, docs/panel.png and docs/settings.png.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from PySide6.QtCore import QPoint, QRect, Qt  # noqa: E402
from PySide6.QtGui import QGuiApplication  # noqa: E402
from PySide6.QtTest import QTest  # noqa: E402
from PySide6.QtWidgets import QApplication, QTextBrowser, QWidget  # noqa: E402

from desktop_app.capture import Capturer  # noqa: E402
from desktop_app.core.endpoint import EndpointClient  # noqa: E402
from desktop_app.core.imaging import image_from_bgra, prepare_image  # noqa: E402
from desktop_app.core.settings import BUILTIN_PROFILES  # noqa: E402
from desktop_app.ui.overlay import RegionOverlay, Selection  # noqa: E402
from desktop_app.ui.panel import AnswerPanel, PanelContext, PanelJob  # noqa: E402
from tests.servers import StreamServer, stream_reply, vllm_stream  # noqa: E402

DOCUMENT = """
<div style="font-family: sans-serif; font-size: 15px; color: #222">
<h2 style="margin-bottom: 2px">INVOICE&nbsp;&nbsp;#2026-1187</h2>
<p style="color:#666">Northwind Cloud Services GmbH · Rosenstraße 14 · 10178 Berlin</p>
<p><b>Bill to:</b> Acme Robotics Ltd., 221 Harbour Road, Leith, Edinburgh EH6 6LP<br>
<b>Issued:</b> 3 November 2026&nbsp;&nbsp;&nbsp;<b>Due:</b> 3 December 2026</p>
<table cellspacing="0" cellpadding="6" border="1" style="border-collapse: collapse">
<tr style="background:#eef2f8"><th align="left">Item</th><th>Qty</th>
<th align="right">Unit</th><th align="right">Amount</th></tr>
<tr><td>GPU node hours (H100, 80 GB)</td><td align="center">312</td>
<td align="right">€2.35</td><td align="right">€733.20</td></tr>
<tr><td>Object storage, 4.2 TB-month</td><td align="center">1</td>
<td align="right">€84.00</td><td align="right">€84.00</td></tr>
<tr><td>Support plan (Business)</td><td align="center">1</td>
<td align="right">€149.00</td><td align="right">€149.00</td></tr>
<tr><td colspan="3" align="right"><b>Subtotal</b></td><td align="right">€966.20</td></tr>
<tr><td colspan="3" align="right">VAT 19 %</td><td align="right">€183.58</td></tr>
<tr><td colspan="3" align="right"><b>Total due</b></td><td align="right"><b>€1,149.78</b></td></tr>
</table>
<p style="color:#666">Please pay by bank transfer to DE89 3704 0044 0532 0130 00, quoting the
invoice number.</p>
</div>
"""

ANSWER = [
    "The **total due is €1,149.78**",
    " (subtotal €966.20 plus 19 % VAT of €183.58),",
    " and it is due on **3 December 2026**.",
    "\n\nThe largest item is ",
    "*GPU node hours*: 312 h at €2.35 = €733.20.",
]


def wait(ms: int) -> None:
    end = time.monotonic() + ms / 1000
    while time.monotonic() < end:
        QApplication.processEvents()
        time.sleep(0.005)


def main() -> None:
    app = QApplication(sys.argv[:1])  # noqa: F841 -- must live while widgets do
    screen = QGuiApplication.primaryScreen()
    geo = screen.geometry()
    backdrop = QWidget()  # a desktop wallpaper, so the pictures look like a desktop
    backdrop.setWindowFlags(Qt.WindowType.FramelessWindowHint)
    backdrop.setStyleSheet(
        "background: qlineargradient(x1:0, y1:0, x2:1, y2:1, stop:0 #2b5876, stop:1 #4e4376);"
    )
    backdrop.setGeometry(geo)
    backdrop.show()
    wait(100)
    doc = QTextBrowser()
    doc.setWindowFlags(Qt.WindowType.FramelessWindowHint)
    doc.setHtml(DOCUMENT)
    doc.setGeometry(QRect(geo.x() + 120, geo.y() + 90, 760, 560))
    doc.show()
    wait(400)

    capturer = Capturer()
    capturer.warm()
    pictures = capturer.capture()
    overlay = RegionOverlay(pictures, mode="ask", confirm_on_release=False)
    selections: list[Selection] = []
    overlay.region_selected.connect(selections.append)
    overlay.show()
    window = overlay.windows[0]
    wait(300)
    a, b = QPoint(124, 190), QPoint(596, 418)  # the invoice's table
    QTest.mousePress(window, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, a)
    QTest.mouseMove(window, QPoint(400, 400))
    QTest.mouseMove(window, b)
    QTest.mouseRelease(window, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, b)
    for x in (560, 575):  # the magnifier follows the pointer
        QTest.mouseMove(window, QPoint(x, 398))
        wait(100)
    window.grab().save(str(ROOT / "docs" / "overlay.png"))
    QTest.keyClick(window, Qt.Key.Key_Return)  # Ask mode: the question field opens
    wait(100)
    field = window.focusWidget()
    QTest.keyClicks(field, "What is the total due, and when?")
    QTest.keyClick(field, Qt.Key.Key_Return)
    wait(200)
    selection = selections[0]
    data, w, h, stride = selection.picture.crop_bgra(*selection.rect)
    image = prepare_image(image_from_bgra(data, w, h, stride))

    server = StreamServer().start()
    server.chat(stream_reply(vllm_stream(ANSWER), delay=0.05))
    profile = BUILTIN_PROFILES["vllm"]
    profile = dataclasses.replace(profile, base_url=server.base_url)
    client = EndpointClient(server.base_url)
    panel = AnswerPanel(
        PanelJob(image=image, mode="ask", prompt=selection.question or "", source="screen"),
        PanelContext(profile=profile, client=client, history=None),
    )
    panel.place_near(selection.global_rect, screen)
    panel.show()
    panel.start()
    done: list[str] = []
    panel.answer_completed.connect(done.append)
    end = time.monotonic() + 15
    while not done and time.monotonic() < end:
        wait(50)
    wait(300)
    screen.grabWindow(0).save(str(ROOT / "docs" / "panel.png"))
    panel.close()
    client.close()
    server.stop()
    settings_shot()
    capturer.close()
    doc.close()
    backdrop.close()
    print("wrote docs/overlay.png, docs/panel.png and docs/settings.png")


def settings_shot() -> None:
    """The endpoint page after Test connection against the loopback server (a settings
    file in a temporary folder: the real one is not touched)."""
    import os
    import tempfile

    from desktop_app.core.settings import Settings
    from desktop_app.ui.settings_dialog import SettingsDialog
    from tests.servers import json_reply

    os.environ["SCREENSCRIBE_CONFIG_DIR"] = tempfile.mkdtemp(prefix="ss-shot-")
    server = StreamServer().start()
    models = [{"id": "Qwen/Qwen3-VL-8B-Instruct", "object": "model"}]
    server.queue("/v1/models", json_reply({"object": "list", "data": models}))
    server.chat(stream_reply(vllm_stream(["OK"]), delay=0.02))
    dialog = SettingsDialog(Settings())
    dialog.show_page("endpoints", profile="vllm")
    dialog.url_edit.setText(server.base_url)
    dialog.url_edit.editingFinished.emit()
    dialog.default_profile_check.click()
    dialog.test_button.click()
    end = time.monotonic() + 15
    while not dialog.test_button.isEnabled() and time.monotonic() < end:
        wait(50)
    wait(200)
    dialog.grab().save(str(ROOT / "docs" / "settings.png"))
    dialog.close()
    server.stop()


if __name__ == "__main__":
    main()

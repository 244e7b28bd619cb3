"""All QtWidgets code: the tray, the region overlay, the answer panel, the dialogs."""

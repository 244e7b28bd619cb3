"""Reading Qt-style portable key sequences into a key and its modifiers."""

from __future__ import annotations

import pytest
from PySide6.QtGui import QKeySequence
from Xlib import XK

from desktop_app.hotkeys.base import (
    NAMED_KEYS,
    HotkeyError,
    KeyCombo,
    Modifier,
    parse_sequence,
)

VALID = [
    ("Ctrl+Alt+O", Modifier.CTRL | Modifier.ALT, "O", "Ctrl+Alt+O"),
    ("ctrl+alt+o", Modifier.CTRL | Modifier.ALT, "O", "Ctrl+Alt+O"),
    ("Meta+Shift+F2", Modifier.META | Modifier.SHIFT, "F2", "Meta+Shift+F2"),
    ("Shift+Meta+F2", Modifier.META | Modifier.SHIFT, "F2", "Meta+Shift+F2"),
    ("Ctrl+Alt+Print", Modifier.CTRL | Modifier.ALT, "Print", "Ctrl+Alt+Print"),
    ("Control + Alt + Escape", Modifier.CTRL | Modifier.ALT, "Esc", "Ctrl+Alt+Esc"),
    ("Super+Page Down", Modifier.META, "PgDown", "Meta+PgDown"),
    ("Ctrl++", Modifier.CTRL, "+", "Ctrl++"),
    ("Ctrl+Alt+,", Modifier.CTRL | Modifier.ALT, ",", "Ctrl+Alt+,"),
    ("Ctrl+Shift+!", Modifier.CTRL | Modifier.SHIFT, "!", "Ctrl+Shift+!"),
    ("Alt+ß", Modifier.ALT, "ß", "Alt+ß"),
    ("Alt+é", Modifier.ALT, "É", "Alt+É"),
    ("Print", Modifier.NONE, "Print", "Print"),
    ("Shift+F12", Modifier.SHIFT, "F12", "Shift+F12"),
    ("Meta+Ctrl+Alt+Shift+Del", ~Modifier.NONE, "Del", "Meta+Ctrl+Alt+Shift+Del"),
]


@pytest.mark.parametrize(("text", "modifiers", "key", "canonical"), VALID)
def test_valid_sequences(text: str, modifiers: Modifier, key: str, canonical: str) -> None:
    combo = parse_sequence(text)
    assert combo == KeyCombo(modifiers, key)
    assert str(combo) == canonical


@pytest.mark.parametrize("text", [case[3] for case in VALID])
def test_canonical_text_is_what_qt_writes(text: str) -> None:
    """The settings dialog stores QKeySequence's portable text: ours must equal it, or
    an unchanged hotkey would look changed."""
    portable = QKeySequence(text).toString(QKeySequence.SequenceFormat.PortableText)
    assert str(parse_sequence(portable)) == portable


INVALID = [
    ("", "The hotkey is empty; choose one such as Ctrl+Alt+O"),
    ("   ", "The hotkey is empty"),
    ("Ctrl+A, Ctrl+B", "“Ctrl+A, Ctrl+B” is several key presses in a row"),
    ("Ctrl+Hyper+O", "“Ctrl+Hyper+O”: 'Hyper' is not a modifier; use Ctrl, Alt, Shift or Meta"),
    ("Ctrl+Alt", "“Ctrl+Alt” names only modifiers; add a key"),
    ("Ctrl+Alt+", "“Ctrl+Alt+” names only modifiers"),
    ("Ctrl+Alt+Media Play", "'Media Play' is not a key ScreenScribe can use"),
    ("Ctrl+Alt+Num+5", "'Num' is not a modifier"),
    ("Ctrl+Alt+CapsLock", "CapsLock is a lock key and cannot be a hotkey"),
    ("O", "“O” would take O away from every other program; add Ctrl, Alt or Meta"),
    ("Shift+Space", "would take Space away from every other program"),
]


@pytest.mark.parametrize(("text", "message"), INVALID)
def test_unusable_sequences_say_why(text: str, message: str) -> None:
    with pytest.raises(HotkeyError) as caught:
        parse_sequence(text)
    assert message in str(caught.value)
    assert caught.value.exit_code == 2


@pytest.mark.parametrize("name", sorted(NAMED_KEYS))
def test_every_named_key_is_an_x_keysym(name: str) -> None:
    assert XK.string_to_keysym(KeyCombo(Modifier.CTRL, name).keysym_name) != 0


def test_characters_have_x_keysym_names() -> None:
    assert KeyCombo(Modifier.CTRL, "O").keysym_name == "o"
    assert KeyCombo(Modifier.CTRL, "7").keysym_name == "7"
    for char in "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~":
        name = KeyCombo(Modifier.CTRL, char).keysym_name
        assert XK.string_to_keysym(name) == ord(char), char

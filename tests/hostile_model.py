"""A scripted model that writes terminal control sequences into everything the ``recode`` command prints: its
thought, its code (raw ESC bytes inside string literals), a tool's input and its final answer. Reached by the
name ``hostile`` through ``RECODE_MODELS=hostile=hostile_model:escapes`` (tests/ on PYTHONPATH)."""

from __future__ import annotations

from recode_graph.models.scripted import ScriptedChatModel, expansion

TITLE = "\x1b]0;pwned-title\x07"  # OSC 0: set the window title
CLEAR = "\x1b[2J\x1b[H"  # CSI: clear the screen, cursor home
LINK = "\x1b]8;;http://evil.example\x1b\\click\x1b]8;;\x1b\\"  # OSC 8 hyperlink
REPORT = "\x9b6n"  # 8-bit CSI: ask the terminal to report the cursor (answer lands on stdin)
INJECTED = (TITLE, CLEAR, "\x1b]8;;http://evil.example", REPORT, "\x1b[31m", "\x07", "\r")


def escapes() -> ScriptedChatModel:
    code = (f'n = word_count("{CLEAR} one two")\n'
            f'final_answer("{TITLE}\\x1b[31mred\\x1b[0m answer " + str(n) + " {LINK} {REPORT}end\\rX")')
    return ScriptedChatModel(by_call={"solve": expansion(f"Thought {TITLE} with {CLEAR} codes", code)})

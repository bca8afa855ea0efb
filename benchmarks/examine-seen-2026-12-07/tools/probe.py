"""The first expansion only, ``solve(instruction, observation)``, for the cases of a JSON file
(``[{"instruction", "observation", "kind"?}]``), with the prompt files of dir $PROMPTS; prints each answer and
a verdict: LIST (parses the places into a list), PASS_OBS (hands the raw observation to a sub-goal),
INSTR_AS_ACTION (the instruction text appears in the code, i.e. is sent to run()).

usage: PROMPTS=dir python probe.py CASES.json [KIND]
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from langchain_core.messages import HumanMessage, SystemMessage
from recode_graph.tools import prompting

from recode_graph.bench.config import with_max_tokens
from recode_graph.engine.prompts import system_prompt
from recode_graph.models.resolve import resolve_model

PLACES = 're.findall(r"[a-z]+ \\d+", observation)'


def system_for(kind: str) -> str:
    examples = prompting.prompt_text(f"alfworld_{kind}") + "\n\n" + prompting.prompt_text("alfworld_common")
    return system_prompt(actions=prompting.prompt_text("alfworld_actions"), examples=examples)


def verdict(code: str, instruction: str) -> list[str]:
    found = ["LIST"] if PLACES in code else []
    if ", observation)" in code.replace(PLACES, ""):
        found.append("PASS_OBS")
    if instruction.rstrip(".") in code:
        found.append("INSTR_AS_ACTION")
    return found


def main(argv: list[str]) -> None:
    prompting.PROMPT_DIR = Path(os.environ["PROMPTS"])
    cases = json.loads(Path(argv[0]).read_text())
    kind = argv[1] if len(argv) > 1 else "examine"
    model = with_max_tokens(resolve_model("local"), 512)
    for case in cases:
        human = (f"Expand: solve(instruction, observation)\nVariables:\n  instruction = {case['instruction']!r}\n"
                 f"  observation = {case['observation']!r}\nAnswer:")
        started = time.time()
        answer = str(model.invoke([SystemMessage(content=system_for(case.get("kind", kind))),
                                   HumanMessage(content=human)]).content)
        code = answer.split("<execute>")[-1]
        print(f"=== {case['instruction']} [{time.time() - started:.0f}s] {verdict(code, case['instruction'])}\n"
              f"{answer}\n", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])

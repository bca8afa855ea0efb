"""README example, runnable offline: two LangChain tools, a scripted model standing in for the LLM.

    python examples/tools_demo.py            # scripted model (no key needed)
    python examples/tools_demo.py local      # the embedded local model
"""

from __future__ import annotations

import sys

from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver

from recode_graph import ScriptedChatModel, create_recode_agent, expansion

FACTS = {"population of Oslo": "717710", "area of Oslo in km2": "454"}


@tool
def search(query: str) -> str:
    """Look a fact up, e.g. 'population of Oslo' or 'area of Oslo in km2'."""
    return FACTS.get(query, "unknown")


@tool
def divide(a: float, b: float) -> float:
    """Divide a by b."""
    return a / b


SCRIPT = ScriptedChatModel(by_call={
    "solve": expansion("Get both numbers, divide, answer.",
                       "density = population_density('Oslo')\nfinal_answer(f'{density:.0f} people per km2')"),
    "population_density": expansion("Two lookups and a division.",
                                    "people = float(search('population of Oslo'))\n"
                                    "area = float(search('area of Oslo in km2'))\ndensity = divide(people, area)"),
})


def main() -> None:
    model = sys.argv[1] if len(sys.argv) > 1 else SCRIPT
    agent = create_recode_agent(model, tools=[search, divide], checkpointer=InMemorySaver())
    out = agent.invoke({"instruction": "Population density of Oslo?"}, {"configurable": {"thread_id": "t1"}})
    print(out["status"], out["answer"], out["usage"])


if __name__ == "__main__":
    main()

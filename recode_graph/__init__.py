"""recode-graph: ReCode (recursive code generation) as a durable LangGraph agent."""

from recode_graph.agent import create_recode_agent
from recode_graph.context import RecodeContext
from recode_graph.effects import side_effects
from recode_graph.sandbox import Limits
from recode_graph.testing import ScriptedChatModel, expansion

__all__ = ["Limits", "RecodeContext", "ScriptedChatModel", "create_recode_agent", "expansion", "side_effects"]

"""recode-graph: ReCode (recursive code generation) as a durable LangGraph agent."""

from recode_graph.agent import create_recode_agent
from recode_graph.approvals.effects import side_effects
from recode_graph.context import RecodeContext
from recode_graph.models.scripted import ScriptedChatModel, expansion
from recode_graph.sandbox import Limits

__all__ = ["Limits", "RecodeContext", "ScriptedChatModel", "create_recode_agent", "expansion", "side_effects"]

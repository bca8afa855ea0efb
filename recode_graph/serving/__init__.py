"""Serving the graph on Aegra, an open implementation of the LangGraph Agent Server API (docs/serving.md).

Modules: ``settings`` (the environment of a server process), ``leases`` (which process runs which run; a dead
process's runs are taken over), ``app`` (the ASGI app: Aegra plus the takeover), ``processes`` (starting and
stopping N server processes; ``recode serve``).
"""

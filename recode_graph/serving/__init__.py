"""Serving the graph on Aegra, an open implementation of the LangGraph Agent Server API (docs/serving.md).

Modules: ``settings`` (the environment of a server process), ``reachable`` (is the Redis there),
``errors`` (a failed run's error type), ``app`` (the ASGI app: Aegra plus the ``module:attr`` loader),
``processes`` (starting and stopping N server processes; ``recode serve``), ``config`` (the served config's
``auth`` and ``env``; the no-auth warnings), ``authload`` (a configured auth handler loads, or the process stops),
``bodies`` (a 422 for request text Postgres cannot store).
"""

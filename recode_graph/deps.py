"""What the nodes need besides the state: the model, the primitives, the environments, the settings.

One ``AgentDeps`` per compiled graph; nodes receive it through ``functools.partial``. Environments are
pooled per thread so concurrent threads of one graph never share an adapter.
"""

from __future__ import annotations

import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.tools import BaseTool
from langgraph.runtime import Runtime

from recode_graph.approvals.effects import EffectLogs
from recode_graph.context import Settings, check_context, effective_settings
from recode_graph.sandbox import Budget, ExecResult, Limits, run_code
from recode_graph.tools.base import Environment

MAX_MODELS = 32  # resolved models kept per agent (a run context may name many provider strings)


class EnvPool:
    """Adapters of one kind, one per active thread; finished threads return theirs to the idle list."""

    def __init__(self, make: Callable[[], Environment], first: Environment | None = None) -> None:
        self._make = make
        self._idle: list[Environment] = [first] if first is not None else []
        self._by_thread: dict[str, Environment] = {}
        self._lock = threading.Lock()
        self.created = 1 if first is not None else 0

    def acquire(self, key: str) -> Environment:
        with self._lock:
            env = self._by_thread.get(key)
            if env is None:
                if self._idle:
                    env = self._idle.pop()
                else:
                    env = self._make()
                    self.created += 1
                self._by_thread[key] = env
            return env

    def release(self, key: str) -> None:
        with self._lock:
            env = self._by_thread.pop(key, None)
            if env is not None:
                self._idle.append(env)

    def close(self) -> None:
        with self._lock:
            for env in [*self._idle, *self._by_thread.values()]:
                env.close()
            self._idle.clear()
            self._by_thread.clear()


class SessionObjects:
    """Per-session values that cannot be checkpointed (iterators, lambdas, ...), kept in process memory.

    Bounded: an episode that is interrupted and never resumed does not keep its values forever; only the
    ``max_sessions`` most recently used sessions hold any (an evicted session's statements that use them get
    a NameError and are repaired, as after a resume in a new process).
    """

    def __init__(self, max_sessions: int = 256) -> None:
        self.max_sessions = max_sessions
        self._data: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, session: str) -> dict[str, Any]:
        with self._lock:
            values = self._data.get(session)
            if values is not None:
                self._data.move_to_end(session)
            return dict(values or {})

    def put(self, session: str, values: dict[str, Any]) -> None:
        with self._lock:
            if not values:
                self._data.pop(session, None)
                return
            self._data[session] = values
            self._data.move_to_end(session)
            while len(self._data) > self.max_sessions:
                self._data.popitem(last=False)

    def drop(self, session: str) -> None:
        with self._lock:
            self._data.pop(session, None)

    def __len__(self) -> int:
        return len(self._data)


@dataclass
class AgentDeps:
    model: BaseChatModel | None
    tools: dict[str, BaseTool]
    environment: Environment | None
    examples: str | None
    settings: Settings
    resolve: Callable[[str], BaseChatModel] | None = None  # model spec → model (context overrides)
    base_urls: tuple[str, ...] | None = None  # the context's base_url: None any (library use), else only these
    system_prompt: str = ""  # the user's guidance, put into every expansion prompt
    settable: frozenset[str] = frozenset()  # user state keys a tool's Command may update
    hooks: Any = None  # recode_graph.engine.hooks.Hooks: the agent's middleware
    tool_wrap: Any = None  # the middleware's composed wrap_tool_call (recode_graph.engine.hooks)
    tool_awrap: Any = None  # ... and awrap_tool_call
    response_format: Any = None  # recode_graph.engine.structured.ResponseFormat: the shape of final_answer
    _specs: dict[str, Any] | None = None
    _tool_executor: ThreadPoolExecutor | None = None
    _models: dict[tuple[str, str], BaseChatModel] = field(default_factory=dict)
    _pools: dict[str, EnvPool] = field(default_factory=dict)
    objects: SessionObjects = field(default_factory=SessionObjects)  # per session: non-plain variables
    effect_logs: EffectLogs = field(default_factory=EffectLogs)  # intents/results of side-effect tools
    _executor: ThreadPoolExecutor | None = None
    max_threads: int = 64  # statements running at once in async runs
    sandbox: Any = "workers"  # where statements run: "workers", "inprocess" or a WorkerPool (see executor=)

    def __post_init__(self) -> None:
        from recode_graph.sandbox.workers import check_executor

        check_executor(self.sandbox)
        if self.hooks is None:
            from recode_graph.engine.hooks import Hooks

            self.hooks = Hooks()

    def run_statement(self, code: str, variables: Mapping[str, Any], functions: Mapping[str, Callable[..., Any]],
                      limits: Limits, budget: Budget, session: str, episode: str = "") -> ExecResult:
        """Run one statement: in a worker process (default) or, for debugging, in this process. ``session`` is
        the thread (its workers' string-hash seed derives from it), ``episode`` the episode's key."""
        if self.sandbox == "inprocess":
            result = run_code(code, variables, functions, limits, budget, objects=self.objects.get(session))
            self.objects.put(session, result.objects)
            return result
        pool = self.worker_pool()
        return pool.run(code, variables, functions, limits, self.run_handle(session, episode),  # type: ignore[no-any-return]
                        seed=self.hash_seed())

    def worker_pool(self) -> Any:
        from recode_graph.sandbox.workers import default_pool

        return default_pool() if self.sandbox == "workers" else self.sandbox

    @staticmethod
    def hash_seed() -> int | None:
        """The string-hash seed of the thread's workers (fixed per thread id, so a resume in another process sees
        the same set orders); None without a thread id (nothing to resume: any seed)."""
        from langgraph.config import get_config

        from recode_graph.sandbox.handles import hash_seed

        try:
            thread = get_config().get("configurable", {}).get("thread_id")
        except RuntimeError:
            return None
        return hash_seed(str(thread)) if thread else None

    def end_episode(self, session: str, episode: str) -> None:
        """The episode has ended (or the thread starts another): its in-memory values go, its worker is killed."""
        self.objects.drop(session)
        if self.sandbox != "inprocess" and episode:
            self.worker_pool().end_run(self.run_handle(session, episode))

    def new_episode(self, session: str, previous: str) -> None:
        """A thread starts an episode: the previous one's run ends; the thread's zygote starts in the background
        (``WorkerPool.prepare``), so the first statement does not wait for it."""
        self.end_episode(session, previous)
        if self.sandbox != "inprocess":
            self.worker_pool().prepare(self.hash_seed())

    def run_handle(self, session: str, episode: str = "") -> str:
        """The sandbox run of a statement: this agent instance's secret, the thread, the episode and the
        checkpoint namespace (subgraphs), so another agent, episode or run can neither name nor reach its
        worker, even with the same thread id (a worker serves one run: ``recode_graph.sandbox.workers``)."""
        namespace = ""
        try:
            from langgraph.config import get_config

            raw = str(get_config().get("configurable", {}).get("checkpoint_ns", ""))
            namespace = "|".join(part.split(":", 1)[0] for part in raw.split("|")[:-1])  # parents, no task ids
        except RuntimeError:
            pass
        return f"{self._secret}/{session}/{episode}/{namespace}"

    def executor(self) -> ThreadPoolExecutor:
        """Threads for statements of async runs (see ``nodes.execute.aexecute``)."""
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(self.max_threads, thread_name_prefix="recode-exec")
            return self._executor
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _secret: str = field(default_factory=lambda: secrets.token_hex(16))  # this agent instance's run handles

    def tool_executor(self) -> ThreadPoolExecutor:
        """Threads for sync tools called through the async middleware chain (see ``recode_graph.engine.toolcall``)."""
        with self._lock:
            if self._tool_executor is None:
                self._tool_executor = ThreadPoolExecutor(self.max_threads, thread_name_prefix="recode-tool")
            return self._tool_executor

    def tool_specs(self) -> dict[str, Any]:
        """Per tool: the arguments code passes and the injected ones (``recode_graph.engine.toolcall.ToolSpec``)."""
        with self._lock:
            if self._specs is None:
                from recode_graph.engine.toolcall import analyse

                self._specs = {name: analyse(tool) for name, tool in self.tools.items()}
            return self._specs

    @staticmethod
    def context_value(runtime: Runtime[Any] | None, name: str) -> Any:
        """A run context field, checked (``check_context``: a model given as a dict is a ContextError naming
        `model`, never an unhashable key), whatever the context schema."""
        context = getattr(runtime, "context", None)
        value = context.get(name) if isinstance(context, dict) else getattr(context, name, None)
        return check_context({name: value})[name] if value is not None else None

    def settings_for(self, runtime: Runtime[Any] | None) -> Settings:
        return effective_settings(self.settings, getattr(runtime, "context", None), self.tools)

    def _model_key(self, runtime: Runtime[Any] | None) -> tuple[str, str]:
        """(model spec, base URL) of the run's context; both empty: the agent's own model."""
        return (self.context_value(runtime, "model") or "", self.context_value(runtime, "base_url") or "")

    def model_for(self, runtime: Runtime[Any] | None) -> BaseChatModel:
        spec, base_url = key = self._model_key(runtime)
        if not spec and not base_url and self.model is not None:
            return self.model
        with self._lock:
            if key not in self._models:
                if base_url:  # an OpenAI-compatible server (recode_graph.models.openai_compat)
                    from recode_graph.models.openai_compat import check_base_url, openai_compatible

                    if self.base_urls is not None and check_base_url(base_url) not in self.base_urls:
                        from recode_graph.models.errors import ModelError

                        raise ModelError(f"base_url {base_url!r} is not one this server allows: its operator lists "
                                         "the OpenAI-compatible servers runs may use in RECODE_BASE_URLS")
                    self._models[key] = openai_compatible(base_url, spec)
                elif self.resolve is None:
                    from recode_graph.models.resolve import resolve_model

                    self._models[key] = resolve_model(spec or None)
                else:
                    self._models[key] = self.resolve(spec)
                while len(self._models) > MAX_MODELS:  # distinct specs from run contexts: keep the newest
                    self._models.pop(next(iter(self._models)))
            return self._models[key]

    def known_model(self, runtime: Runtime[Any] | None) -> BaseChatModel | None:
        """The run's model if it is already resolved (never starts or builds one)."""
        key = self._model_key(runtime)
        if key == ("", "") and self.model is not None:
            return self.model
        with self._lock:
            return self._models.get(key)

    async def amodel_for(self, runtime: Runtime[Any] | None) -> BaseChatModel:
        """``model_for`` for async nodes: resolving a spec reads files (fixtures, weights) and may start the
        local server, so a model not resolved yet is resolved on a worker thread, off the event loop."""
        key = self._model_key(runtime)
        if (key == ("", "") and self.model is not None) or key in self._models:
            return self.model_for(runtime)
        import asyncio

        return await asyncio.to_thread(self.model_for, runtime)

    def env_key(self, runtime: Runtime[Any] | None) -> str:
        """Which environment pool a run uses ('' = none)."""
        name = self.context_value(runtime, "environment") or ""
        if name:
            grounding = self.context_value(runtime, "grounding") or ""
            return f"{name}:{self.context_value(runtime, 'split') or ''}" + (f":{grounding}" if grounding else "")
        return "default" if self.environment is not None else ""

    def pool(self, key: str) -> EnvPool | None:
        if not key:
            return None
        with self._lock:
            if key not in self._pools:
                if key == "default":
                    assert self.environment is not None
                    self._pools[key] = EnvPool(self.environment.spawn, self.environment)
                else:
                    from recode_graph.tools import load_environment

                    name, split, grounding = (key.split(":", 2) + [""])[:3]
                    options = {"split": split} if split else {}
                    if grounding:
                        options["grounding"] = grounding
                    self._pools[key] = EnvPool(lambda: load_environment(name, **options))
            return self._pools[key]

    def close(self) -> None:
        for pool in self._pools.values():
            pool.close()
        for executor in (self._executor, self._tool_executor):
            if executor is not None:
                executor.shutdown(wait=False)

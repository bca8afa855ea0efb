"""``recode run`` / ``recode resume``: build the graph from run settings, drive an episode, report."""

from __future__ import annotations

import argparse
import sys
import uuid
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from typing import Any

from recode_graph.cli import stops
from recode_graph.cli.answers import Answers, decide
from recode_graph.cli.common import ENVIRONMENTS, EXIT_FAILED, EXIT_OK, EXIT_WAITING, CliError, NoAnswer
from recode_graph.cli.demo import demo_tools
from recode_graph.cli.sanitize import check_thread, terminal_safe, terminal_text
from recode_graph.cli.ui import PlainUI, RichUI, make_ui

# ---------------------------------------------------------------------------------------------------
# Building the graph from run settings (the same for run and resume)


def load_env(settings: dict[str, Any], stack: ExitStack) -> Any:
    """The environment adapter named in ``settings`` (closed with ``stack``), or None."""
    name = settings.get("env") or ""
    if not name:
        return None
    from recode_graph.tools import load_environment
    from recode_graph.tools.base import EnvError

    options: dict[str, Any] = {"split": settings["split"]} if settings.get("split") else {}
    if settings.get("grounding"):  # threads stored before grounding existed ran without it
        options["grounding"] = settings["grounding"]
    try:
        env = load_environment(name, **options)
    except EnvError as exc:
        raise CliError(str(exc)) from None
    except (TypeError, ValueError, OSError) as exc:
        raise CliError(no_java(name, exc) or f"{name}: cannot start the environment: {exc}") from None
    stack.callback(env.close)
    return env


def reset_task(env: Any, task: str) -> Any:
    """Validate ``task`` (id or index) by resetting to it; returns the adapter's ``Reset``."""
    from recode_graph.tools.base import EnvError

    try:
        return env.reset(int(task) if task.isdigit() else task)
    except EnvError as exc:
        raise CliError(str(exc)) from None
    except (KeyError, IndexError, ValueError, OSError) as exc:
        raise CliError(no_java(env.name, exc) or f"{env.name}: cannot start task {task!r}: {exc}") from None


def no_java(name: str, exc: BaseException) -> str:
    """The fix when an environment's JVM could not start because there is no ``java`` on PATH, else ''."""
    if isinstance(exc, FileNotFoundError) and exc.filename == "java":
        return (f"{name} needs Java 17 and there is no `java` on PATH: install it (Debian/Ubuntu: apt-get install "
                "-y openjdk-17-jre-headless), see docs/troubleshooting.md")
    return ""


def check_model_option(spec: str | None) -> None:
    """``--model ''`` is a mistake, not a request for the default model."""
    if spec is not None and not spec.strip():
        raise CliError("--model is empty; name a model (e.g. 'local', 'openai:gpt-4o-mini', 'scripted:<fixture>' "
                       "or a name from RECODE_MODELS) or leave the option out")


def load_model(spec: str, base_url: str = "") -> Any:
    from recode_graph.models.openai_compat import openai_compatible
    from recode_graph.models.resolve import ModelError, resolve_model

    try:
        return openai_compatible(base_url, spec) if base_url else resolve_model(spec)
    except ModelError as exc:
        raise CliError(f"no usable model: {exc}") from None


@contextmanager
def checkpointer(db: str | None, postgres: str | None, *, create: bool = True) -> Iterator[Any]:
    from recode_graph.persistence.storage import StorageError, open_checkpointer

    try:
        with open_checkpointer(db, postgres, create=create) as saver:
            yield saver
    except StorageError as exc:
        raise CliError(str(exc)) from None


def build_agent(settings: dict[str, Any], model: Any, env: Any, saver: Any) -> Any:
    from recode_graph import create_recode_agent

    tools = demo_tools() if settings.get("tools") == "demo" else []
    try:
        return create_recode_agent(model, tools=tools, environment=env, checkpointer=saver,
                                   max_depth=int(settings.get("max_depth", 10)),
                                   approve=settings.get("approve") or None,
                                   executor=settings.get("executor") or "workers")
    except ValueError as exc:
        raise CliError(str(exc)) from None


def run_config(thread: str, settings: dict[str, Any], before: float = 0.0) -> dict[str, Any]:
    """The config of one run segment: the thread, its run settings and the segment's clock (``before``:
    episode seconds stored by earlier segments) in every checkpoint's metadata."""
    from recode_graph.persistence.clock import segment_metadata
    from recode_graph.persistence.storage import run_metadata

    return {"configurable": {"thread_id": thread}, "metadata": {**run_metadata(settings), **segment_metadata(before)}}


def episode_seconds(saver: Any, thread: str) -> float:
    from recode_graph.persistence.clock import stored_seconds
    from recode_graph.persistence.storage import thread_config

    try:
        return stored_seconds(saver, thread_config(thread)) or 0.0
    except Exception:  # noqa: BLE001 - the duration is informative; never fail a report over it
        return 0.0


@contextmanager
def stoppable(thread: str, args: argparse.Namespace, saver: Any) -> Iterator[None]:
    """A Ctrl-C / SIGTERM inside names ``thread`` and says how to resume it (``recode_graph.cli.stops``)."""
    from recode_graph.persistence.storage import latest

    command = stops.resume_command(thread, args.db, args.postgres)
    with stops.watching(thread, command, lambda: latest(saver, thread) is not None):
        yield


# ---------------------------------------------------------------------------------------------------
# Driving an episode: stream, answer approvals, report


@contextmanager
def resumable(thread: str) -> Iterator[None]:
    """Turn errors raised inside the graph into one line that says how to continue."""
    try:
        yield
    except (CliError, NoAnswer, KeyboardInterrupt):
        raise
    except Exception as exc:  # noqa: BLE001 - any failure inside a node: the thread stays resumable
        from recode_graph.engine.render import short

        text = short(f"{type(exc).__name__}: {exc}", 300)
        raise CliError(f"the run stopped: {text}; continue with `recode resume {thread}`", EXIT_FAILED) from None


def stream_segment(graph: Any, payload: Any, config: dict[str, Any], ui: PlainUI) -> Any:
    """Run until the graph ends or waits for a person; returns the state snapshot."""
    tree = graph.get_state(config).values.get("tree") or {}
    ui.begin(terminal_safe(tree))  # model-written text reaches the terminal without control sequences
    try:
        for event in graph.stream(payload, config, stream_mode="custom"):
            if isinstance(event, dict):
                ui.event(terminal_safe(event))
    finally:
        ui.end()
    return graph.get_state(config)


def resume_value(interrupts: Sequence[Any], ui: PlainUI, answers: Answers) -> Any:
    """Ask a person about each pending interrupt; the value for ``Command(resume=...)``."""
    values: dict[str, Any] = {}
    for item in interrupts:
        request = terminal_safe(item.value) if isinstance(item.value, dict) else {}
        actions = request.get("action_requests") or []
        if not actions:
            raise CliError(f"the run waits for an input this CLI does not know: {item.value!r}", EXIT_FAILED)
        ui.request(request)
        allowed = ((request.get("review_configs") or [{}])[0].get("allowed_decisions")
                   or ["approve", "edit", "reject"])
        values[item.id] = {"decisions": [decide(actions[0], answers, ui.say, allowed)]}
    return next(iter(values.values())) if len(values) == 1 else values


def drive(graph: Any, config: dict[str, Any], payload: Any, ui: PlainUI, answers: Answers,
          pending: Sequence[Any] = ()) -> Any:
    """Stream the episode to its end, asking for approvals on the way (first the ``pending`` interrupts
    of a resumed thread); returns the final snapshot."""
    from langgraph.types import Command

    thread = config["configurable"]["thread_id"]
    interrupts = pending
    while True:
        if interrupts:
            try:
                payload = Command(resume=resume_value(interrupts, ui, answers))
            except NoAnswer:
                raise CliError(f"no answer for the pending approval (end of input); the thread waits: "
                               f"`recode resume {thread}`", EXIT_WAITING) from None
        with resumable(thread):
            snapshot = stream_segment(graph, payload, config, ui)
        if not snapshot.interrupts:
            return snapshot
        interrupts = snapshot.interrupts


def summary_line(values: dict[str, Any], seconds: float) -> str:
    from recode_graph.engine.tree import stats

    usage = values.get("usage") or {}
    shape = stats(values.get("tree") or {})
    parts = [str(values.get("status", "unknown")), f"score {values.get('score')}",
             f"{usage.get('calls', 0)} model calls",
             f"tokens {usage.get('input_tokens', 0)} in / {usage.get('output_tokens', 0)} out "
             f"({usage.get('cached_tokens', 0)} cached)",
             f"{shape['nodes']} nodes, depth {shape['depth']}",
             f"{len(values.get('trajectory') or [])} primitive calls", f"{seconds:.1f} s"]
    return " · ".join(parts)


def report(snapshot: Any, ui: PlainUI, seconds: float, thread: str) -> int:
    values = terminal_safe(snapshot.values or {})
    if isinstance(ui, RichUI) and values.get("tree"):
        ui.tree(values["tree"])
    if values.get("answer"):
        ui.say(f"answer: {values['answer']}")
    if values.get("reason"):
        ui.say(f"reason: {values['reason']}")
    ui.say(f"result: {summary_line(values, seconds)}")
    ui.say(f"thread: {thread}")
    return EXIT_OK if values.get("status") == "success" else EXIT_FAILED


def next_steps(settings: dict[str, Any], thread: str, args: argparse.Namespace) -> list[str]:
    """What to try after a run: look at it, run another task, bring your own tools."""
    store = f" --db {args.db}" if args.db else f" --postgres {args.postgres}" if args.postgres else ""
    again = (f"recode run --env {settings['env']}" + (f" --split {settings['split']}" if settings["split"] else "")
             + " --task 1" if settings["env"] else 'recode run --instruction "what is 2**10 + 7?"')
    again += f" --model {settings['model']}"  # the same model: a hint after a scripted run stays scripted
    return ["next:",
            f"  recode show {thread}{store}    the expansion tree and every action",
            f"  {again}    another task",
            "  your own LangChain tools: docs/use-in-your-app.md (runnable: python examples/tools_demo.py)"]


# ---------------------------------------------------------------------------------------------------
# Subcommands


def run_settings(args: argparse.Namespace) -> dict[str, Any]:
    """Validate the flag combination of ``recode run``; the settings stored with the thread."""
    from recode_graph.models.resolve import default_spec

    if args.env and args.instruction is not None:
        raise CliError("use --env (with --task) or --instruction, not both")
    if not args.env and args.instruction is None:
        raise CliError("recode run needs --env ENV (with --task) or --instruction TEXT")
    if not args.env and (args.split or args.task is not None):
        raise CliError("--split and --task need --env")
    if args.instruction is not None and not args.instruction.strip():
        raise CliError("--instruction is empty")
    check_model_option(args.model)
    if args.thread is not None:
        check_thread(args.thread, "--thread")
    if args.max_depth < 1:
        raise CliError("--max-depth must be at least 1")
    if args.db and args.postgres:
        raise CliError("use either --db or --postgres, not both")
    if args.env and args.env not in ENVIRONMENTS:
        raise CliError(f"unknown environment {args.env!r}; available: {', '.join(ENVIRONMENTS)}")
    if args.approve:
        from recode_graph.approvals.policy import parse_approve

        try:
            parse_approve(args.approve, [] if args.env else [f.__name__ for f in demo_tools()])
        except ValueError as exc:
            raise CliError(f"--approve: {exc}") from None
    return {"env": args.env or "", "split": args.split or "", "task": args.task if args.task is not None else "0",
            "instruction": args.instruction or "", "model": args.model or ("" if args.base_url else default_spec()),
            "base_url": args.base_url or "",
            "approve": args.approve or "", "max_depth": args.max_depth, "tools": "env" if args.env else "demo",
            "executor": args.executor, "grounding": args.grounding if args.env else ""}


def heartbeat_interval() -> float:
    from recode_graph.cli.heartbeat import progress_interval

    try:
        return progress_interval()
    except ValueError as exc:
        raise CliError(str(exc)) from None


def model_note(spec: str) -> str:
    """The line `recode run` prints when no --model is given: the model it uses, why, and how to pick another."""
    import os

    why = ("from RECODE_MODEL" if os.environ.get("RECODE_MODEL", "").strip() else
           "OPENAI_API_KEY is set" if os.environ.get("OPENAI_API_KEY") else
           "the embedded Qwen2.5-Coder-1.5B on this CPU, since no RECODE_MODEL or OPENAI_API_KEY is set")
    return (f"model: {spec} ({why}); pick another with --model, e.g. --model openai:gpt-4o-mini or "
            "--model scripted:calc_demo (a scripted demo, instant)")


def cmd_run(args: argparse.Namespace) -> int:
    settings = run_settings(args)
    ui = make_ui(sys.stdout)
    with ExitStack() as stack:
        stack.enter_context(ui.alive(heartbeat_interval()))
        if settings["env"]:
            ui.doing(f"starting the {settings['env']} environment")
        env = load_env(settings, stack)
        payload: dict[str, Any] = {"instruction": settings["instruction"]}
        if env is not None:
            reset = reset_task(env, settings["task"])
            settings["task"] = reset.task_id
            payload = {"task_id": reset.task_id}
        local = settings["model"].split(":", 1)[0] == "local" and not settings["base_url"]
        # a bad model is an error before any output
        model = None if local else load_model(settings["model"], settings["base_url"])
        saver = stack.enter_context(checkpointer(args.db, args.postgres))
        thread = args.thread or f"{settings['env'] or 'task'}-{uuid.uuid4().hex[:10]}"
        from recode_graph.persistence.storage import latest

        if latest(saver, thread) is not None:
            raise CliError(f"thread {thread!r} already exists; continue it with `recode resume {thread}`")
        if not args.model:  # after the checks: a bad input prints nothing on stdout
            ui.say(model_note(settings["model"]))
        if env is not None:
            if getattr(env, "data_note", None):
                ui.say(f"note: {env.data_note}")
            ui.say(f"task: {settings['task']}")
            ui.say(f"goal: {terminal_text(reset.instruction.strip())}")
        if local:  # the slow start: say what is happening while the weights load
            with ui.waiting(f"starting the local model ({settings['model']}: llama.cpp on this CPU; its first "
                            "answer reads the whole prompt and takes longest)"):
                model = load_model(settings["model"])
        graph = build_agent(settings, model, env, saver)
        ui.say(f"thread: {thread}")
        answers = Answers(sys.stdin, getattr(ui, "console", None))
        with stoppable(thread, args, saver):
            snapshot = drive(graph, run_config(thread, settings), payload, ui, answers)
        code = report(snapshot, ui, episode_seconds(saver, thread), thread)
        for line in next_steps(settings, thread, args):
            ui.say(line)
        return code


def cmd_resume(args: argparse.Namespace) -> int:
    """Continue a thread that is not finished (``persistence.threadstatus``); a finished one is reported from
    the store alone (no model, no environment)."""
    from recode_graph.persistence.storage import StorageError, thread_config
    from recode_graph.persistence.storage import run_settings as stored_settings
    from recode_graph.persistence.threadstatus import finished

    check_thread(args.thread, "THREAD")
    check_model_option(args.model)
    ui = make_ui(sys.stdout)
    with ExitStack() as stack:
        stack.enter_context(ui.alive(heartbeat_interval()))
        saver = stack.enter_context(checkpointer(args.db, args.postgres, create=False))
        try:
            settings = stored_settings(saver, args.thread)
        except StorageError as exc:
            raise CliError(str(exc)) from None
        if not settings:
            raise CliError(f"thread {args.thread!r} was not started by `recode run` (no run settings stored)")
        snapshot = reader(saver).get_state(thread_config(args.thread))
        ui.say(f"thread: {args.thread}")
        if finished(snapshot):
            ui.say("the episode had already finished")
            return report(snapshot, ui, episode_seconds(saver, args.thread), args.thread)
        with stoppable(args.thread, args, saver):
            if args.model:
                settings["model"] = args.model
            env = load_env(settings, stack)
            base_url = "" if args.model else settings.get("base_url", "")  # --model alone: not on that server
            graph = build_agent(settings, load_model(settings["model"], base_url), env, saver)
            config = run_config(args.thread, settings, episode_seconds(saver, args.thread))
            answers = Answers(sys.stdin, getattr(ui, "console", None))
            snapshot = drive(graph, config, None, ui, answers, pending=snapshot.interrupts)
        return report(snapshot, ui, episode_seconds(saver, args.thread), args.thread)


def reader(saver: Any) -> Any:
    """An agent without model or environment: enough to read a thread's state."""
    from recode_graph import create_recode_agent

    return create_recode_agent(None, checkpointer=saver)

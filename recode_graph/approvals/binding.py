"""What an approval binds to: the content of the request the person answered, not its position.

LangGraph resumes the interrupts of a task by position: the n-th ``interrupt()`` of a re-run gets the n-th
stored answer, whatever it asks. A statement re-run on resume can compute another call (heap addresses in
``repr``, set order, a tool that returns something new), so the stored answer to "send to alice" would be
applied to "send to mallory". Here every request carries a digest of (request kind, tool name, arguments in
the checkpoint form shown to the person), and an answer is applied only to a request with the same digest.

How we know which request an answer was given for (the mechanism):

- LangGraph keeps, per task, only the list of answers (the ``RESUME`` write) and the *latest* interrupt value
  (the ``INTERRUPT`` write is replaced by each new interrupt), so the requests that earlier answers were given
  for are not in the checkpoint. We therefore keep a **ledger**: when ``interrupt()`` raises, the digest and a
  summary of the request are committed under (thread, the task's checkpoint namespace, slot), where the slot
  is the number of answers the task already has, exactly the index LangGraph gives the answer (and the suffix
  of its interrupt id). A request asked again in the same slot (the node re-ran without an answer) replaces
  the row, as LangGraph replaces the pending interrupt: the row is always the request the person was shown.
- When ``interrupt()`` returns, the slot of the answer is found in the task's answer list (the answer is the
  list's object at that index: appended when it is new, read when it is replayed), and the ledger row for that
  slot must carry the digest of the request being asked now. Otherwise (another call, or no row: a ledger that
  did not survive, e.g. a restarted in-memory server) the answer is not applied: the request is asked again
  with ``error`` saying what changed and ``previous`` holding the call the answer was given for.
- A decision may also carry the request's ``digest`` itself (clients that echo it): a different one is refused.

The ledger lives where the side-effect log lives (``recode_graph.approvals.logs``): the SqliteSaver's or
PostgresSaver's database, memory for InMemorySaver (and the in-memory server), the graph's store otherwise;
with none of these, process memory (a resume in another process is then asked again, never applied blindly).
The check needs no cooperation from the checkpointer, so it holds for every saver and across processes.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from langgraph.config import get_config
from langgraph.errors import GraphInterrupt
from langgraph.types import interrupt

from recode_graph.approvals.logs import EffectLog

STATUS = "asked"


def digest(kind: str, name: str, args: Any) -> str:
    """The content a decision binds to; ``args`` in the checkpoint form shown to the person."""
    blob = json.dumps([kind, name, args], sort_keys=True, ensure_ascii=True, separators=(",", ":"), default=repr)
    return "sha256:" + hashlib.sha256(blob.encode()).hexdigest()


def _summary(name: str, args: Any) -> str:
    return json.dumps({"name": name, "args": args}, sort_keys=True, ensure_ascii=False, default=repr)[:3900]


def _call_text(name: str, args: Any) -> str:
    text = json.dumps(args, sort_keys=True, ensure_ascii=False, default=repr)
    return f"{name}({text[:300]}{'...' if len(text) > 300 else ''})"


def changed(previous: dict[str, Any] | None, name: str, args: dict[str, Any]) -> str:
    """The ``error`` of a request asked again because its answer was given for another call."""
    if previous is None:
        return (f"the answer given is not on record for this request (it may have been given for another call, "
                f"or its record did not survive): nothing ran; decide on {_call_text(name, args)}")
    old_args = previous.get("args")
    if isinstance(old_args, dict) and previous.get("name") == name:
        keys = sorted({*old_args, *args}, key=str)
        what = ", ".join(str(k) for k in keys if old_args.get(k, _MISSING) != args.get(k, _MISSING))
        what = f"{what} changed" if what else "another kind of request about the same call"
    else:
        what = f"the action changed from {previous.get('name')!r}"
    return (f"the answer was given for {_call_text(str(previous.get('name')), old_args)}, but the call is now "
            f"{_call_text(name, args)} ({what}): nothing ran; decide on this call")


_MISSING = object()


@dataclass
class Bound:
    """One request's binding: its digest and where its slots are recorded."""

    ledger: EffectLog | None
    thread: str
    ns: str
    kind: str
    name: str
    args: Any  # the checkpoint form shown
    digest: str

    def _key(self, slot: int) -> str:
        return f"ask|{self.ns}|{slot}"

    def ask(self, value: Any, response_schema: dict[str, Any] | None = None
            ) -> tuple[Any, str, dict[str, Any] | None]:
        """``interrupt(value)`` (with a JSON ``response_schema``: shown to clients, not enforced); returns (the
        answer, "" when it was given for this request else why not, the call the answer was given for when that
        is another one)."""
        pad = _scratchpad()
        answers = getattr(pad, "resume", None)
        slot = len(answers) if isinstance(answers, list) else -1
        try:
            answer = interrupt(value, response_schema=response_schema)
        except GraphInterrupt:
            if self.ledger is not None and slot >= 0:
                self.ledger.mark(self.thread, self._key(slot), self.digest, _summary(self.name, self.args), STATUS)
            raise
        found = _slot_of(answer, answers if isinstance(answers, list) else [])
        row = self.ledger.get(self.thread, self._key(found)) if self.ledger is not None and found >= 0 else None
        if row is not None and row.status == STATUS and row.tool == self.digest:
            return answer, "", None
        previous = _previous(row)
        return answer, changed(previous, self.name, self.args), previous


def _previous(row: Any) -> dict[str, Any] | None:
    if row is None:
        return None
    try:
        value = json.loads(row.args)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _slot_of(answer: Any, answers: list[Any]) -> int:
    """The index of ``answer`` in the task's answer list (LangGraph returns the list's own object), or -1."""
    hits = [i for i, a in enumerate(answers) if a is answer]
    return hits[0] if len(hits) == 1 else -1


def _scratchpad() -> Any:
    from recode_graph.compat import load

    # where LangGraph keeps a task's answers (a private name: recode_graph.compat)
    return (get_config().get("configurable") or {}).get(load("CONFIG_KEY_SCRATCHPAD"))


def ledger(logs: Any, store: Any) -> EffectLog | None:
    """The ledger of the running graph's checkpointer (``logs``: the agent's ``EffectLogs``)."""
    from recode_graph.compat import load

    if logs is None:
        return None
    return logs.ledger((get_config().get("configurable") or {}).get(load("CONFIG_KEY_CHECKPOINTER")), store)


def bind(ledger: EffectLog | None, kind: str, name: str, args: Any) -> Bound:
    """The binding of a request made in the running task (``args``: the checkpoint form shown)."""
    conf = get_config().get("configurable") or {}
    return Bound(ledger=ledger, thread=str(conf.get("thread_id") or ""), ns=str(conf.get("checkpoint_ns") or ""),
                 kind=kind, name=name, args=args, digest=digest(kind, name, args))

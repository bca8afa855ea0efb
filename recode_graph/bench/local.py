"""Local model figures: weight assembly, server start, seconds per completion, prefix-cache hit rate.

Run: ``python -m recode_graph.bench.local [--model local:qwen2.5-coder-0.5b] [--n 5] [--threads 2]``.
Every completion shares a ~1,500-token static prefix (rules) followed by a varying task, the way ReCode
prompts are laid out, so after the first call most prompt tokens should come from llama.cpp's cache.
"""

from __future__ import annotations

import argparse
import statistics
import time

from recode_graph.models.local import SERVERS, assemble, model_spec

OBJECTS = ["apple", "mug", "key", "book", "lamp", "knife", "towel", "plate", "pencil", "bowl"]
PLACES = ["kitchen", "bedroom", "garage", "garden", "office", "bathroom", "hallway", "attic"]


def static_prefix(rules: int = 32) -> str:
    """A long, fixed rules text (about 1,500 tokens for the Qwen tokenizer at 32 rules)."""
    lines = ["You are an agent that solves household tasks by writing Python code.",
             "Answer with <think>short reasoning</think> then <execute>code</execute>.",
             "Available functions: run(command) -> observation; placeholder functions you may define."]
    for i in range(rules):
        obj, place = OBJECTS[i % len(OBJECTS)], PLACES[i % len(PLACES)]
        lines.append(f"Rule {i + 1}: if the {obj} is needed and you are not in the {place}, go to the "
                     f"{place} first, look around, take the {obj} with run(\"take {obj}\"), and check the "
                     f"observation before doing anything else.")
    return "\n".join(lines)


def task(i: int) -> str:
    return (f"Task {i}: put a clean {OBJECTS[i % len(OBJECTS)]} in the {PLACES[(3 * i) % len(PLACES)]}.\n"
            "Observation: You are in the middle of a room. Write the next step.")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="local:qwen2.5-coder-0.5b")
    parser.add_argument("--n", type=int, default=5, help="completions")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--max-tokens", type=int, default=48)
    args = parser.parse_args(argv)
    name = args.model.removeprefix("local").removeprefix(":")
    spec = model_spec(name)

    start = time.perf_counter()
    assemble(spec)
    print(f"model        {spec.name} (weights ready in {time.perf_counter() - start:.1f} s)")
    server = SERVERS.get(spec.name, threads=args.threads)
    print(f"server start {server.start_seconds:.1f} s, {server.threads} threads, {server.url}")

    from langchain_openai import ChatOpenAI

    model = ChatOpenAI(base_url=server.url + "/v1", api_key="local",  # type: ignore[arg-type]
                       model=spec.name, temperature=0, callbacks=[server.stats])
    prefix = static_prefix()
    before = server.metrics()
    seconds: list[float] = []
    warm_prompt = warm_cached = 0
    for i in range(args.n):
        t0 = time.perf_counter()
        reply = model.invoke([("system", prefix), ("user", task(i))], stop=["</execute>"],
                             max_tokens=args.max_tokens)
        seconds.append(time.perf_counter() - t0)
        usage = reply.usage_metadata or {}
        cached = (usage.get("input_token_details") or {}).get("cache_read", 0)
        if i:
            warm_prompt, warm_cached = warm_prompt + usage.get("input_tokens", 0), warm_cached + cached
        print(f"call {i + 1}  {seconds[-1]:6.2f} s  prompt {usage.get('input_tokens', 0):5d} tokens "
              f"({cached} cached)  output {usage.get('output_tokens', 0):3d} tokens")
    after = server.metrics()
    SERVERS.stop(spec.name)

    delta = {k: after.get(k, 0.0) - before.get(k, 0.0) for k in after}
    prompt_evaluated = delta.get("prompt_tokens_total", 0.0)
    stats = server.stats.snapshot()
    warm = seconds[1:] or seconds
    print(f"seconds/completion  cold {seconds[0]:.2f}  warm median {statistics.median(warm):.2f}  "
          f"mean {statistics.mean(seconds):.2f}")
    print(f"prefix-cache hit rate {stats['hit_rate']:.1%} ({stats['cached_tokens']} of "
          f"{stats['prompt_tokens']} prompt tokens; warm calls {warm_cached / max(1, warm_prompt):.1%})")
    if delta.get("prompt_seconds_total"):
        print(f"prompt eval {prompt_evaluated / delta['prompt_seconds_total']:.0f} tokens/s "
              f"({prompt_evaluated:.0f} tokens evaluated)")
    if delta.get("tokens_predicted_seconds_total"):
        print(f"generation  {delta['tokens_predicted_total'] / delta['tokens_predicted_seconds_total']:.1f} "
              "tokens/s")


if __name__ == "__main__":
    main()

"""The engine's pieces: state and tree, reading the model's code, prompts, primitives and tool calls,
middleware hooks, chat messages, run identity, stream events and pictures of an episode."""

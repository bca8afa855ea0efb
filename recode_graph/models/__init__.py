"""Chat models: resolving a spec (remote, local, scripted), the embedded local model, scripted models for
tests, token usage."""

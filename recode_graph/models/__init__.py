"""Chat models: resolving a spec (remote, local, scripted, or a name on the operator's ``RECODE_MODELS``
allowlist; never a module path), the embedded local model, scripted models for tests, token usage."""

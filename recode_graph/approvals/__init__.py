"""Human approval (LangChain's human-in-the-loop request format), the ``approve=`` policy, and tools with
side effects that run at most once."""

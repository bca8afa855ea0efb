"""Graph nodes, one module each: start, expand, review, execute, finish."""

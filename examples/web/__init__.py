"""A browser chat page over ``llmring.sse`` (see ``app.py``)."""

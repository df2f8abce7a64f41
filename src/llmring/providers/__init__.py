"""Provider adapters and their registry.

``base`` is the adapter seam (the events, ``ProviderAdapter`` with the stream loop every
adapter shares, ``ProviderConfig``); ``_registry`` lists the provider packages, one per
provider, each declaring its ``ProviderSpec`` in its ``__init__``. Importing this package, or
any provider package, imports no vendor SDK: an adapter (and its SDK) is imported the first
time its provider streams.
"""

__all__: list[str] = []  # the adapters are reached through their own modules

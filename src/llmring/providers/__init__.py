"""Provider adapters and their registry.

``base`` defines the adapter seam (events, ``ProviderAdapter``, ``ProviderConfig``);
``_registry`` maps provider names to lazily imported adapters; one module per provider.
Importing this package imports no vendor SDK.
"""

__all__: list[str] = []  # the adapters are reached through their own modules

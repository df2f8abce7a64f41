"""Alias → ordered candidate models, per profile, with why each one can or cannot be used.

``provider:model`` passes through untouched; anything without a colon is an alias looked up in
the selected profile (argument → ``$LLMRING_PROFILE`` → the lockfile's ``default_profile``).
Candidates whose provider cannot be used now (its SDK is not installed or its key is not set:
the registry's one rule, :func:`~llmring.providers._registry.unavailable`) stay in the list
with ``unavailable`` set, so the facade can skip them and still say why in its error.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from llmring._configs import lookup
from llmring.exceptions import AliasNotFoundError, ConfigurationError
from llmring.lockfile._model import Lockfile, ModelRef, parse_model_ref
from llmring.lockfile._store import PROFILE_ENV
from llmring.providers._registry import Unavailable, unavailable
from llmring.providers._seam import ProviderConfig

__all__ = ["Candidate", "Resolver"]


@dataclass(frozen=True)
class Candidate:
    """One model an alias may be served by, in order; ``unavailable`` says why it cannot be
    used now (``None``: it can), and ``config`` is how to reach its provider (looked up once,
    here, so that a stream needs nothing else to open it)."""

    provider: str
    model: str
    unavailable: Unavailable | None = None
    config: ProviderConfig = field(kw_only=True, repr=False, compare=False)

    @property
    def ref(self) -> str:
        return f"{self.provider}:{self.model}"

    @property
    def usable(self) -> bool:
        return self.unavailable is None

    @property
    def problem(self) -> str | None:
        """Why the candidate cannot be used now, as text, or ``None``."""
        return self.unavailable.reason if self.unavailable else None

    def __str__(self) -> str:
        return self.ref


class Resolver:
    """Resolves names against one lockfile, one profile and the known providers."""

    def __init__(
        self,
        lockfile: Lockfile,
        providers: Mapping[str, ProviderConfig],
        profile: str | None = None,
    ) -> None:
        self.lockfile = lockfile
        self.providers = providers
        explicit = profile or os.environ.get(PROFILE_ENV)
        if explicit:
            lockfile.profile(explicit)  # an unknown profile is an error right away
        self.profile_name = explicit or lockfile.default_profile

    def resolve(self, name: str) -> list[Candidate]:
        """Candidates for an alias or a ``provider:model`` reference, primary first."""
        name = name.strip()
        if ":" in name:
            try:
                refs: tuple[ModelRef, ...] = (parse_model_ref(name),)
            except ValueError as exc:
                raise ConfigurationError(str(exc)) from None
        else:
            refs = self._binding(name)
        return [self._candidate(ref) for ref in refs]

    def _candidate(self, ref: ModelRef) -> Candidate:
        config = lookup(ref.provider, self.providers)
        return Candidate(ref.provider, ref.model, unavailable(config), config=config)

    def _binding(self, alias: str) -> tuple[ModelRef, ...]:
        profile = self.lockfile.profile(self.profile_name)
        binding = profile.bindings.get(alias)
        if binding is not None:
            return binding.models
        raise AliasNotFoundError(
            self._unknown_alias_message(alias, list(profile.bindings)),
            alias=alias,
            suggestions=difflib.get_close_matches(alias, profile.bindings, n=3),
        )

    def _unknown_alias_message(self, alias: str, known: list[str]) -> str:
        where = self.lockfile.path
        if self.lockfile.bundled:
            where_text = "the bundled default lockfile (no llmring.lock was found)"
        else:
            where_text = str(where)
        message = f"alias {alias!r} is not bound in profile {self.profile_name!r} of {where_text}"
        close = difflib.get_close_matches(alias, known, n=3)
        if close:
            message += f" (did you mean {', '.join(repr(c) for c in close)}?)"
        elsewhere = [
            p.name
            for p in self.lockfile.profiles.values()
            if p.name != self.profile_name and alias in p.bindings
        ]
        if elsewhere:
            message += f"; it is bound in profile(s) {', '.join(elsewhere)}"
        return message + f". Bind it with: llmring bind {alias} provider:model"

    def aliases(self) -> dict[str, list[str]]:
        """Every alias of the selected profile with its model references, in file order."""
        profile = self.lockfile.profile(self.profile_name)
        return {alias: [str(m) for m in b.models] for alias, b in profile.bindings.items()}

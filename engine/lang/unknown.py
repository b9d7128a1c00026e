"""`Unknown`, as expressions see it; defined in providers.values, shared with the drivers."""

from nubes.providers.values import Unknown, UnknownType, contains_unknown, unknown_mask

__all__ = ["Unknown", "UnknownType", "contains_unknown", "unknown_mask"]

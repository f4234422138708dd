"""Provider prompt caching: breakpoints placed for clients that set none (``auto_cache``),
and what the provider's cache saved, in /api/stats."""

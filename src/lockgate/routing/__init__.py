"""Strong/weak routing: a routing alias sends each request to a weak or a strong alias."""

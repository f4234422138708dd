"""HTTP edges: parse and shape each wire format, render every error."""

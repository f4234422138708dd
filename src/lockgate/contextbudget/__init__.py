"""Context budgets: a prompt too long for an alias's budget is refused or cut, never sent
to overflow the model's window; cuts keep the provider's cached prefix intact.  And
lossless compression (whitespace, repeated tool results) behind a flag."""

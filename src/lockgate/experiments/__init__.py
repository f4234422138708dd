"""A/B experiments on prompt versions and model aliases, and canary rollouts of labels."""

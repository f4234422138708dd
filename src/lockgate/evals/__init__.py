"""Evaluation: suites with assertions and LLM judges, paired comparisons, judge calibration,
and online scoring of sampled live traffic.

The offline tools are clients of the gateway (in-process or by URL); the online sampler is a
record sink that judges a fraction of finished requests off the request path.
"""

"""Batch jobs in OpenAI's Files and Batches wire format, executed by lockgate itself.

A batch's lines are rows in the database; replicas claim them under leases, run each
through the gateway's own walk (auth principal, limits, guards, cache, dispatcher,
usage rows) and store each answer in the same transaction that marks the line done, so
an answered line is never sent again and no line is lost across restarts.
"""

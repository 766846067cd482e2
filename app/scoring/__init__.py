"""The scoring domain: pure Python, no Flask, no Redis.

Interactions, rules and the fold that turns a contact's timeline into a score and its
ledger. The worker, the publish recompute and the preview all call the same functions,
so live processing, replay and recompute give the same score by construction.
"""

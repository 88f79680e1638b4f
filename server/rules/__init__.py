"""Pure rules: plain data in, decisions with reason codes out. No Flask, ORM, Redis or HTTP.

policy.py (the effective Policy) · screening.py (keep or skip, participant classes) ·
matching.py (CRM candidates and the default pick) · linking.py (the opportunity rule) ·
explain.py (decisions in words) · defaults.py (the default lists) · domains.py (registrable
domains) · keys.py (idempotency keys).
"""

"""llmrouter: contracts (``llmrouter.v1``) and the small runtime shared by the three services.

Kept empty on purpose: importing the generated stubs must not pull in anything else.
"""

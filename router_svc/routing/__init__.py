"""Choosing models for a request and walking the chain."""

from .failover import Attempt, Engine, Served, StreamStarted, StreamSummary
from .policy import Candidate, Decision, Policy, Skip

__all__ = [
    "Attempt",
    "Candidate",
    "Decision",
    "Engine",
    "Policy",
    "Served",
    "Skip",
    "StreamStarted",
    "StreamSummary",
]

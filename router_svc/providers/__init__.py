"""Upstream adapters: each speaks one wire format and maps its failures onto our error set."""

from .base import Provider, create_provider
from .simulated import SimulatedProvider

__all__ = ["Provider", "SimulatedProvider", "create_provider"]

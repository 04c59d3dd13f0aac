"""Fakes for tests: real local servers standing in for the services we call."""

from tests.fakes.upstream import Behavior, FakeUpstream, RecordedRequest, running_upstream

__all__ = ["Behavior", "FakeUpstream", "RecordedRequest", "running_upstream"]

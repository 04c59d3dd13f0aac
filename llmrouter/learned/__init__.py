"""Learned routing's shared core: a local text embedder for tests and offline runs, the kNN
quality predictor, and the quality-bounded cost order. Used by the router (quality-bounded
routing) and by ``llmrouter eval-router`` (the offline harness), so both decide alike."""

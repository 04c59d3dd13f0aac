"""The router's side of learned routing (README, "Learned routing"): ``[router.learned]``
(:mod:`.config`), the category-estimate seam (:mod:`.estimates`), the predictor as the router
runs it (:mod:`.predictor`, :mod:`.prompts`), the labelled set's loading (:mod:`.labelled`)
and learning from feedback (:mod:`.follower`). The shared core (kNN, hashing) is
:mod:`llmrouter.learned`.

Nothing is re-exported here: :mod:`router_svc.config` imports :mod:`.config` while the other
modules import the registry, which imports the config.
"""

"""Quality estimates learned from feedback (README, "Quality estimates"): the Beta maths,
the ``[router.quality]`` section, the per model x category estimates and their follower."""

from . import beta, config, estimates, follower
from .beta import *  # noqa: F403
from .config import *  # noqa: F403
from .estimates import *  # noqa: F403
from .follower import *  # noqa: F403

__all__ = [*beta.__all__, *config.__all__, *estimates.__all__, *follower.__all__]

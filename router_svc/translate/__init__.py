"""All protobuf building in the router: ``*_pb2`` messages <-> the router's plain dataclasses.

``chat`` converts RouterService requests, responses and stream chunks; ``embed`` the Embed
RPC's; ``models`` builds
ListModels' answer; ``admin`` builds the RouterAdminService messages. The servicers only
handle RPCs.
"""

# Each module's public names, re-exported through its own __all__ (listing them again here
# would be a copy that could drift); ``from router_svc.translate import chat_from_proto`` and
# ``translate.chat_from_proto`` keep working as before the split.
from . import admin, chat, embed, models, stream
from .admin import *  # noqa: F403
from .chat import *  # noqa: F403
from .embed import *  # noqa: F403
from .models import *  # noqa: F403
from .stream import *  # noqa: F403

__all__ = [*chat.__all__, *embed.__all__, *models.__all__, *stream.__all__, *admin.__all__]

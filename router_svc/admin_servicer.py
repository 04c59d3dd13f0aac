"""``llmrouter.v1.RouterAdminService`` over :class:`router_svc.admin.Admin`."""

from __future__ import annotations

from typing import Any

import grpc

from llmrouter.v1 import router_admin_service_pb2 as pb
from llmrouter.v1 import router_admin_service_pb2_grpc

from .admin import Admin
from .errors import ReportedAsStatus
from .translate.admin import category_fields, category_to_proto, model_health

__all__ = ["ADMIN_SERVICE_NAME", "AdminServicer"]

ADMIN_SERVICE_NAME = pb.DESCRIPTOR.services_by_name["RouterAdminService"].full_name
Context = grpc.aio.ServicerContext[Any, Any]


class AdminServicer(router_admin_service_pb2_grpc.RouterAdminServiceServicer):
    """Translates admin RPCs; errors become rich statuses naming the field."""

    def __init__(self, admin: Admin, classification_mode: str) -> None:
        self._admin = admin
        self._mode = classification_mode

    async def ListModelHealth(
        self, request: pb.ListModelHealthRequest, context: Context
    ) -> pb.ListModelHealthResponse:
        return pb.ListModelHealthResponse(models=[model_health(e) for e in self._admin.models()])

    async def SetModelEnabled(
        self, request: pb.SetModelEnabledRequest, context: Context
    ) -> pb.SetModelEnabledResponse:
        async with ReportedAsStatus(context):
            changed = self._admin.set_enabled(
                model=request.model, provider=request.provider, enabled=request.enabled
            )
        return pb.SetModelEnabledResponse(models=[model_health(e) for e in changed])

    async def ResetBreaker(
        self, request: pb.ResetBreakerRequest, context: Context
    ) -> pb.ResetBreakerResponse:
        """Close the model's breaker and refill its retry budget; NOT_FOUND names ``model``."""
        async with ReportedAsStatus(context):
            entry = self._admin.reset_breaker(request.model)
        return pb.ResetBreakerResponse(model=model_health(entry))

    async def ListCategories(
        self, request: pb.ListCategoriesRequest, context: Context
    ) -> pb.ListCategoriesResponse:
        return pb.ListCategoriesResponse(
            categories=[category_to_proto(c) for c in self._admin.categories()],
            classification_mode=self._mode,
        )

    async def CreateCategory(
        self, request: pb.CreateCategoryRequest, context: Context
    ) -> pb.CreateCategoryResponse:
        async with ReportedAsStatus(context):
            created = self._admin.create_category(category_fields(request.category))
        return pb.CreateCategoryResponse(category=category_to_proto(created))

    async def UpdateCategory(
        self, request: pb.UpdateCategoryRequest, context: Context
    ) -> pb.UpdateCategoryResponse:
        async with ReportedAsStatus(context):
            updated = self._admin.update_category(category_fields(request.category))
        return pb.UpdateCategoryResponse(category=category_to_proto(updated))

    async def SetProviderBaseUrl(
        self, request: pb.SetProviderBaseUrlRequest, context: Context
    ) -> pb.SetProviderBaseUrlResponse:
        async with ReportedAsStatus(context):
            provider, models = await self._admin.set_base_url(request.provider, request.base_url)
        return pb.SetProviderBaseUrlResponse(
            provider=provider.name,
            base_url=provider.config.base_url,
            models=[model_health(e) for e in models],
        )

    async def DeleteCategory(
        self, request: pb.DeleteCategoryRequest, context: Context
    ) -> pb.DeleteCategoryResponse:
        async with ReportedAsStatus(context):
            self._admin.delete_category(request.name)
        return pb.DeleteCategoryResponse()

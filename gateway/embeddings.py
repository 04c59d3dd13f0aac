"""The embeddings front door: ``POST /v1/embeddings`` (OpenAI's "Create embeddings"), served by
RouterService.Embed.

Requests and answers are translated by :mod:`gateway.translate.embeddings`; errors are
OpenAI's shape naming the parameter (``input[3]``, ``dimensions``). The key's rate limits
apply as on chat completions, the tokens per minute counting the inputs' tokens (estimated up
front, corrected to the usage the answer reports).
"""

from __future__ import annotations

import grpc
from starlette.requests import Request
from starlette.responses import Response

from gateway.context import RequestContext
from gateway.doors import DoorEndpoints
from gateway.streaming import until_disconnect
from gateway.translate.embeddings import (
    embedding_headers,
    embeddings_json,
    parse_embeddings_request,
)
from gateway.web import JSONResponse, read_json
from llmrouter.token_estimate import prompt_tokens

__all__ = ["EmbeddingsEndpoints"]


class EmbeddingsEndpoints(DoorEndpoints):
    """``/v1/embeddings``."""

    async def embeddings(self, request: Request, ctx: RequestContext) -> Response:
        """``POST /v1/embeddings``: one vector per input, as floats or base64."""
        parsed = parse_embeddings_request(
            await read_json(request, self._config.max_body_bytes, "gateway.max_body_bytes"),
            client_request_id=ctx.client_request_id,
            source=request.headers.get("x-llmrouter-source"),
            api_key_id=ctx.api_key_id,
            team_id=ctx.team_id,
        )
        self._bind(ctx, parsed.embed.caller)
        inputs = parsed.embed.inputs
        admission = None
        if self._limits is not None:  # 429 before the router is asked
            admission = await self._limits.admit_tokens(
                ctx.api_key_id,
                lambda: sum(prompt_tokens(len(t), 0) for t in inputs),
                own=(ctx.rpm_limit, ctx.tpm_limit),
            )
        call = self._upstreams().router.Embed(parsed.embed, timeout=ctx.timeout_s)
        try:
            response = await until_disconnect(request.receive, call, call.cancel)
        except grpc.aio.AioRpcError as exc:
            raise parsed.router_error(exc) from exc
        headers = embedding_headers(response)
        if admission is not None:
            admission.settle(response.usage.prompt_tokens)
            headers.update(admission.headers())
        return JSONResponse(embeddings_json(response, parsed.encoding_format), headers=headers)

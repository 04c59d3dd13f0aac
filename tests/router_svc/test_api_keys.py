"""Virtual keys and teams through RouterAdminService on a real router: validation naming the
field, audit without secrets, digests for gateways, the sync between replicas, and the
allowed models of a Caller."""

from __future__ import annotations

import hashlib
from typing import Any

import grpc
import pytest
from google.protobuf import field_mask_pb2

from llmrouter.v1 import chat_pb2, router_service_pb2
from llmrouter.v1 import router_admin_service_pb2 as pb

from .test_admin import bad_request_fields
from .test_admin_overlays import admin_of


def _sha(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


async def test_create_rotate_revoke_and_the_digests(make_router: Any) -> None:
    _, _, admin = await admin_of(make_router)
    team = (await admin.CreateTeam(pb.CreateTeamRequest(team=pb.Team(name="search")))).team
    created = await admin.CreateApiKey(
        pb.CreateApiKeyRequest(
            api_key=pb.ApiKey(
                name="ci",
                team_id=team.id,
                role=pb.API_KEY_ROLE_ADMIN,
                allowed_models=["a"],
                allowed_categories=[],
                tpm_limit=1000,
                budgets=[pb.Budget(period=pb.BUDGET_PERIOD_MONTH, hard_usd=20.0)],
            )
        )
    )
    key, secret = created.api_key, created.secret
    assert secret.startswith("sk-llmr-")
    assert key.id.startswith("vk_")
    assert (key.team_id, key.role, list(key.allowed_models)) == (
        team.id,
        pb.API_KEY_ROLE_ADMIN,
        ["a"],
    )
    assert not key.HasField("rpm_limit")
    assert key.tpm_limit == 1000
    digests = await admin.ListApiKeyDigests(pb.ListApiKeyDigestsRequest())
    assert [(d.sha256, d.api_key_id, d.team_id) for d in digests.api_keys] == [
        (_sha(secret), key.id, team.id)
    ]
    same = await admin.ListApiKeyDigests(pb.ListApiKeyDigestsRequest(known_version=digests.version))
    assert same.unchanged
    assert not same.api_keys

    rotated = await admin.RotateApiKey(pb.RotateApiKeyRequest(id=key.id))
    assert rotated.secret != secret
    assert rotated.api_key.HasField("previous_secret_expire_time")
    overlap = (
        rotated.api_key.previous_secret_expire_time.seconds - rotated.api_key.rotate_time.seconds
    )
    assert overlap == 3600  # the default overlap
    both = await admin.ListApiKeyDigests(pb.ListApiKeyDigestsRequest())
    assert {d.sha256 for d in both.api_keys} == {_sha(secret), _sha(rotated.secret)}

    await admin.RevokeApiKey(pb.RevokeApiKeyRequest(id=key.id))
    assert not (await admin.ListApiKeyDigests(pb.ListApiKeyDigestsRequest())).api_keys
    listed = await admin.ListApiKeys(pb.ListApiKeysRequest())
    assert not listed.api_keys  # revoked keys only when asked
    listed = await admin.ListApiKeys(pb.ListApiKeysRequest(show_revoked=True))
    assert [k.id for k in listed.api_keys] == [key.id]
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await admin.RotateApiKey(pb.RotateApiKeyRequest(id=key.id))
    assert info.value.code() == grpc.StatusCode.FAILED_PRECONDITION

    events = (await admin.ListAuditEvents(pb.ListAuditEventsRequest())).events
    assert [e.action for e in events] == [
        "revoke_api_key",
        "rotate_api_key",
        "create_api_key",
        "create_team",
    ]
    text = str(list(events))
    for leaked in (secret, rotated.secret, _sha(secret).hex(), _sha(rotated.secret).hex()):
        assert leaked not in text


async def test_update_by_mask(make_router: Any) -> None:
    _, _, admin = await admin_of(make_router)
    key = (
        await admin.CreateApiKey(pb.CreateApiKeyRequest(api_key=pb.ApiKey(name="ci", rpm_limit=10)))
    ).api_key
    updated = await admin.UpdateApiKey(
        pb.UpdateApiKeyRequest(
            api_key=pb.ApiKey(id=key.id, name="renamed", allowed_models=["b"]),
            update_mask=field_mask_pb2.FieldMask(paths=["name", "rpm_limit"]),
        )
    )
    # rpm_limit named but unset: cleared; allowed_models not named: kept.
    assert updated.api_key.name == "renamed"
    assert not updated.api_key.HasField("rpm_limit")
    assert list(updated.api_key.allowed_models) == []
    got = await admin.GetApiKey(pb.GetApiKeyRequest(id=key.id))
    assert got.api_key == updated.api_key


@pytest.mark.parametrize(
    ("api_key", "field"),
    [
        (pb.ApiKey(), "api_key.name"),
        (pb.ApiKey(name="x", team_id="team_nope"), "api_key.team_id"),
        (pb.ApiKey(name="x", allowed_models=["a", "nope"]), "api_key.allowed_models[1]"),
        (pb.ApiKey(name="x", allowed_categories=["nope"]), "api_key.allowed_categories[0]"),
        (pb.ApiKey(name="x", rpm_limit=0), "api_key.rpm_limit"),
        (
            pb.ApiKey(name="x", budgets=[pb.Budget(period=pb.BUDGET_PERIOD_DAY)]),
            "api_key.budgets[0].hard_usd",
        ),
        (
            pb.ApiKey(
                name="x",
                budgets=[pb.Budget(period=pb.BUDGET_PERIOD_DAY, soft_usd=5, hard_usd=1)],
            ),
            "api_key.budgets[0].soft_usd",
        ),
        (
            pb.ApiKey(name="x", budgets=[pb.Budget(period=pb.BUDGET_PERIOD_ROLLING, hard_usd=1)]),
            "api_key.budgets[0].rolling_window",
        ),
        (
            pb.ApiKey(name="x", budgets=[pb.Budget(hard_usd=1)]),
            "api_key.budgets[0].period",
        ),
    ],
)
async def test_bad_keys_name_the_field(make_router: Any, api_key: pb.ApiKey, field: str) -> None:
    _, _, admin = await admin_of(make_router)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await admin.CreateApiKey(pb.CreateApiKeyRequest(api_key=api_key))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert bad_request_fields(info.value) == [field]


async def test_a_replica_sharing_the_store_learns_of_a_revocation(make_router: Any) -> None:
    _first, _, admin = await admin_of(make_router, admin_resync_interval_s=0.1)
    _second, _, other = await admin_of(make_router, admin_resync_interval_s=0.1)
    created = await admin.CreateApiKey(pb.CreateApiKeyRequest(api_key=pb.ApiKey(name="ci")))
    await admin.RevokeApiKey(pb.RevokeApiKeyRequest(id=created.api_key.id))
    for _ in range(50):
        seen = await other.ListApiKeyDigests(pb.ListApiKeyDigestsRequest())
        if seen.version == (await admin.ListApiKeyDigests(pb.ListApiKeyDigestsRequest())).version:
            break
        await __import__("asyncio").sleep(0.05)
    assert seen.version >= 2
    assert not seen.api_keys


def _chat(model: str, *allowed: str) -> router_service_pb2.CompleteRequest:
    return router_service_pb2.CompleteRequest(
        chat=chat_pb2.ChatRequest(
            model=model,
            messages=[chat_pb2.Message(role=chat_pb2.ROLE_USER, content="hi")],
            caller=chat_pb2.Caller(api_key_id="vk_1", team_id="team_1", allowed_models=allowed),
        )
    )


async def test_allowed_models_refuse_or_filter(make_router: Any) -> None:
    _, stub, _ = await admin_of(make_router)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.Complete(_chat("a", "b"))
    assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "'a'" in (info.value.details() or "")
    # auto: the chain (a, b, c) keeps only the allowed b.
    answer = await stub.Complete(_chat("auto", "b"))
    assert answer.model == "b"
    route = await stub.Route(router_service_pb2.RouteRequest(chat=_chat("auto", "c").chat))
    assert [c.model for c in route.candidates] == ["c"]

"""GET /v1/models for a restricted key: only what the key may use (gateway.translate.models)."""

from __future__ import annotations

from gateway.translate import allowed_only, models_list
from llmrouter.v1 import router_service_pb2 as pb


def _listing() -> pb.ListModelsResponse:
    return pb.ListModelsResponse(
        models=[
            pb.ModelInfo(name="small", aliases=["tiny"]),
            pb.ModelInfo(name="large"),
            pb.ModelInfo(name="coder"),
        ],
        categories=[
            pb.CategoryInfo(name="code", chain=["coder", "large"]),
            pb.CategoryInfo(name="chat", chain=["tiny", "large"]),
        ],
        default_chain=["small", "large"],
    )


def _ids(response: pb.ListModelsResponse) -> list[str]:
    return [item["id"] for item in models_list(response)["data"]]


def test_no_restriction_lists_everything() -> None:
    assert _ids(allowed_only(_listing(), [])) == ["auto", "code", "chat", "small", "large", "coder"]


def test_a_key_allowed_one_model_by_alias_sees_it_and_the_chains_cut_to_it() -> None:
    seen = allowed_only(_listing(), ["tiny"])
    assert _ids(seen) == ["auto", "chat", "small"]
    assert list(seen.categories[0].chain) == ["tiny"]
    assert list(seen.default_chain) == ["small"]


def test_a_key_allowed_a_category_sees_its_whole_chain() -> None:
    seen = allowed_only(_listing(), ["category:code"])
    assert _ids(seen) == ["auto", "code", "chat", "large", "coder"]
    assert list(seen.categories[0].chain) == ["coder", "large"]
    assert list(seen.categories[1].chain) == ["large"]  # chat keeps the model it may use
    assert list(seen.default_chain) == ["large"]

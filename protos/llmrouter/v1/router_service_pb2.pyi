import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from llmrouter.v1 import chat_pb2 as _chat_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SkipReason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SKIP_REASON_UNSPECIFIED: _ClassVar[SkipReason]
    SKIP_REASON_DISABLED: _ClassVar[SkipReason]
    SKIP_REASON_BREAKER_OPEN: _ClassVar[SkipReason]
    SKIP_REASON_MISSING_CAPABILITY: _ClassVar[SkipReason]
    SKIP_REASON_CONTEXT_WINDOW: _ClassVar[SkipReason]
    SKIP_REASON_UNKNOWN_MODEL: _ClassVar[SkipReason]
    SKIP_REASON_RATE_LIMIT: _ClassVar[SkipReason]
    SKIP_REASON_BUDGET: _ClassVar[SkipReason]

class CacheStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CACHE_STATUS_UNSPECIFIED: _ClassVar[CacheStatus]
    CACHE_STATUS_HIT: _ClassVar[CacheStatus]
    CACHE_STATUS_MISS: _ClassVar[CacheStatus]

class PriceSource(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PRICE_SOURCE_UNSPECIFIED: _ClassVar[PriceSource]
    PRICE_SOURCE_CONFIG: _ClassVar[PriceSource]
    PRICE_SOURCE_GENAI_PRICES: _ClassVar[PriceSource]
    PRICE_SOURCE_LOCAL: _ClassVar[PriceSource]
    PRICE_SOURCE_INPUT_PRICE: _ClassVar[PriceSource]
    PRICE_SOURCE_SCALED: _ClassVar[PriceSource]
    PRICE_SOURCE_UNKNOWN: _ClassVar[PriceSource]
SKIP_REASON_UNSPECIFIED: SkipReason
SKIP_REASON_DISABLED: SkipReason
SKIP_REASON_BREAKER_OPEN: SkipReason
SKIP_REASON_MISSING_CAPABILITY: SkipReason
SKIP_REASON_CONTEXT_WINDOW: SkipReason
SKIP_REASON_UNKNOWN_MODEL: SkipReason
SKIP_REASON_RATE_LIMIT: SkipReason
SKIP_REASON_BUDGET: SkipReason
CACHE_STATUS_UNSPECIFIED: CacheStatus
CACHE_STATUS_HIT: CacheStatus
CACHE_STATUS_MISS: CacheStatus
PRICE_SOURCE_UNSPECIFIED: PriceSource
PRICE_SOURCE_CONFIG: PriceSource
PRICE_SOURCE_GENAI_PRICES: PriceSource
PRICE_SOURCE_LOCAL: PriceSource
PRICE_SOURCE_INPUT_PRICE: PriceSource
PRICE_SOURCE_SCALED: PriceSource
PRICE_SOURCE_UNKNOWN: PriceSource

class RouteRequest(_message.Message):
    __slots__ = ("chat",)
    CHAT_FIELD_NUMBER: _ClassVar[int]
    chat: _chat_pb2.ChatRequest
    def __init__(self, chat: _Optional[_Union[_chat_pb2.ChatRequest, _Mapping]] = ...) -> None: ...

class Candidate(_message.Message):
    __slots__ = ("model", "provider", "position", "score", "reason", "quality", "deployment")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    POSITION_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    QUALITY_FIELD_NUMBER: _ClassVar[int]
    DEPLOYMENT_FIELD_NUMBER: _ClassVar[int]
    model: str
    provider: str
    position: int
    score: float
    reason: str
    quality: QualityPrediction
    deployment: str
    def __init__(self, model: _Optional[str] = ..., provider: _Optional[str] = ..., position: _Optional[int] = ..., score: _Optional[float] = ..., reason: _Optional[str] = ..., quality: _Optional[_Union[QualityPrediction, _Mapping]] = ..., deployment: _Optional[str] = ...) -> None: ...

class QualityPrediction(_message.Message):
    __slots__ = ("quality", "source", "samples", "lower", "upper", "mean_similarity")
    QUALITY_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    SAMPLES_FIELD_NUMBER: _ClassVar[int]
    LOWER_FIELD_NUMBER: _ClassVar[int]
    UPPER_FIELD_NUMBER: _ClassVar[int]
    MEAN_SIMILARITY_FIELD_NUMBER: _ClassVar[int]
    quality: float
    source: str
    samples: int
    lower: float
    upper: float
    mean_similarity: float
    def __init__(self, quality: _Optional[float] = ..., source: _Optional[str] = ..., samples: _Optional[int] = ..., lower: _Optional[float] = ..., upper: _Optional[float] = ..., mean_similarity: _Optional[float] = ...) -> None: ...

class SkippedModel(_message.Message):
    __slots__ = ("model", "reason", "detail")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    model: str
    reason: SkipReason
    detail: str
    def __init__(self, model: _Optional[str] = ..., reason: _Optional[_Union[SkipReason, str]] = ..., detail: _Optional[str] = ...) -> None: ...

class RouteResponse(_message.Message):
    __slots__ = ("category", "category_source", "candidates", "skipped_models", "estimated_prompt_tokens", "min_quality", "predictor_embedding_model")
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_SOURCE_FIELD_NUMBER: _ClassVar[int]
    CANDIDATES_FIELD_NUMBER: _ClassVar[int]
    SKIPPED_MODELS_FIELD_NUMBER: _ClassVar[int]
    ESTIMATED_PROMPT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    MIN_QUALITY_FIELD_NUMBER: _ClassVar[int]
    PREDICTOR_EMBEDDING_MODEL_FIELD_NUMBER: _ClassVar[int]
    category: str
    category_source: str
    candidates: _containers.RepeatedCompositeFieldContainer[Candidate]
    skipped_models: _containers.RepeatedCompositeFieldContainer[SkippedModel]
    estimated_prompt_tokens: int
    min_quality: float
    predictor_embedding_model: str
    def __init__(self, category: _Optional[str] = ..., category_source: _Optional[str] = ..., candidates: _Optional[_Iterable[_Union[Candidate, _Mapping]]] = ..., skipped_models: _Optional[_Iterable[_Union[SkippedModel, _Mapping]]] = ..., estimated_prompt_tokens: _Optional[int] = ..., min_quality: _Optional[float] = ..., predictor_embedding_model: _Optional[str] = ...) -> None: ...

class CompleteRequest(_message.Message):
    __slots__ = ("chat",)
    CHAT_FIELD_NUMBER: _ClassVar[int]
    chat: _chat_pb2.ChatRequest
    def __init__(self, chat: _Optional[_Union[_chat_pb2.ChatRequest, _Mapping]] = ...) -> None: ...

class CompleteResponse(_message.Message):
    __slots__ = ("id", "model", "provider", "message", "finish_reason", "usage", "attempts", "category", "create_time", "fallback", "trace_id", "logprobs_json", "service_tier", "system_fingerprint", "reasoning_content", "cache")
    ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    FINISH_REASON_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    FALLBACK_FIELD_NUMBER: _ClassVar[int]
    TRACE_ID_FIELD_NUMBER: _ClassVar[int]
    LOGPROBS_JSON_FIELD_NUMBER: _ClassVar[int]
    SERVICE_TIER_FIELD_NUMBER: _ClassVar[int]
    SYSTEM_FINGERPRINT_FIELD_NUMBER: _ClassVar[int]
    REASONING_CONTENT_FIELD_NUMBER: _ClassVar[int]
    CACHE_FIELD_NUMBER: _ClassVar[int]
    id: str
    model: str
    provider: str
    message: _chat_pb2.Message
    finish_reason: _chat_pb2.FinishReason
    usage: _chat_pb2.Usage
    attempts: _containers.RepeatedCompositeFieldContainer[_chat_pb2.Attempt]
    category: str
    create_time: _timestamp_pb2.Timestamp
    fallback: bool
    trace_id: str
    logprobs_json: str
    service_tier: str
    system_fingerprint: str
    reasoning_content: str
    cache: CacheStatus
    def __init__(self, id: _Optional[str] = ..., model: _Optional[str] = ..., provider: _Optional[str] = ..., message: _Optional[_Union[_chat_pb2.Message, _Mapping]] = ..., finish_reason: _Optional[_Union[_chat_pb2.FinishReason, str]] = ..., usage: _Optional[_Union[_chat_pb2.Usage, _Mapping]] = ..., attempts: _Optional[_Iterable[_Union[_chat_pb2.Attempt, _Mapping]]] = ..., category: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., fallback: _Optional[bool] = ..., trace_id: _Optional[str] = ..., logprobs_json: _Optional[str] = ..., service_tier: _Optional[str] = ..., system_fingerprint: _Optional[str] = ..., reasoning_content: _Optional[str] = ..., cache: _Optional[_Union[CacheStatus, str]] = ...) -> None: ...

class StreamCompleteRequest(_message.Message):
    __slots__ = ("chat", "accepts_delta_batches")
    CHAT_FIELD_NUMBER: _ClassVar[int]
    ACCEPTS_DELTA_BATCHES_FIELD_NUMBER: _ClassVar[int]
    chat: _chat_pb2.ChatRequest
    accepts_delta_batches: bool
    def __init__(self, chat: _Optional[_Union[_chat_pb2.ChatRequest, _Mapping]] = ..., accepts_delta_batches: _Optional[bool] = ...) -> None: ...

class StreamStart(_message.Message):
    __slots__ = ("id", "model", "provider", "category", "create_time", "trace_id", "attempt_count", "fallback", "cache")
    ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    TRACE_ID_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_COUNT_FIELD_NUMBER: _ClassVar[int]
    FALLBACK_FIELD_NUMBER: _ClassVar[int]
    CACHE_FIELD_NUMBER: _ClassVar[int]
    id: str
    model: str
    provider: str
    category: str
    create_time: _timestamp_pb2.Timestamp
    trace_id: str
    attempt_count: int
    fallback: bool
    cache: CacheStatus
    def __init__(self, id: _Optional[str] = ..., model: _Optional[str] = ..., provider: _Optional[str] = ..., category: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., trace_id: _Optional[str] = ..., attempt_count: _Optional[int] = ..., fallback: _Optional[bool] = ..., cache: _Optional[_Union[CacheStatus, str]] = ...) -> None: ...

class ToolCallDelta(_message.Message):
    __slots__ = ("index", "id", "name", "arguments")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    ARGUMENTS_FIELD_NUMBER: _ClassVar[int]
    index: int
    id: str
    name: str
    arguments: str
    def __init__(self, index: _Optional[int] = ..., id: _Optional[str] = ..., name: _Optional[str] = ..., arguments: _Optional[str] = ...) -> None: ...

class StreamDelta(_message.Message):
    __slots__ = ("content", "tool_calls", "refusal", "logprobs_json", "service_tier", "system_fingerprint", "reasoning_content")
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    TOOL_CALLS_FIELD_NUMBER: _ClassVar[int]
    REFUSAL_FIELD_NUMBER: _ClassVar[int]
    LOGPROBS_JSON_FIELD_NUMBER: _ClassVar[int]
    SERVICE_TIER_FIELD_NUMBER: _ClassVar[int]
    SYSTEM_FINGERPRINT_FIELD_NUMBER: _ClassVar[int]
    REASONING_CONTENT_FIELD_NUMBER: _ClassVar[int]
    content: str
    tool_calls: _containers.RepeatedCompositeFieldContainer[ToolCallDelta]
    refusal: str
    logprobs_json: str
    service_tier: str
    system_fingerprint: str
    reasoning_content: str
    def __init__(self, content: _Optional[str] = ..., tool_calls: _Optional[_Iterable[_Union[ToolCallDelta, _Mapping]]] = ..., refusal: _Optional[str] = ..., logprobs_json: _Optional[str] = ..., service_tier: _Optional[str] = ..., system_fingerprint: _Optional[str] = ..., reasoning_content: _Optional[str] = ...) -> None: ...

class StreamSummary(_message.Message):
    __slots__ = ("model", "provider", "finish_reason", "usage", "attempts", "fallback", "service_tier", "system_fingerprint")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    FINISH_REASON_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    FALLBACK_FIELD_NUMBER: _ClassVar[int]
    SERVICE_TIER_FIELD_NUMBER: _ClassVar[int]
    SYSTEM_FINGERPRINT_FIELD_NUMBER: _ClassVar[int]
    model: str
    provider: str
    finish_reason: _chat_pb2.FinishReason
    usage: _chat_pb2.Usage
    attempts: _containers.RepeatedCompositeFieldContainer[_chat_pb2.Attempt]
    fallback: bool
    service_tier: str
    system_fingerprint: str
    def __init__(self, model: _Optional[str] = ..., provider: _Optional[str] = ..., finish_reason: _Optional[_Union[_chat_pb2.FinishReason, str]] = ..., usage: _Optional[_Union[_chat_pb2.Usage, _Mapping]] = ..., attempts: _Optional[_Iterable[_Union[_chat_pb2.Attempt, _Mapping]]] = ..., fallback: _Optional[bool] = ..., service_tier: _Optional[str] = ..., system_fingerprint: _Optional[str] = ...) -> None: ...

class StreamDeltaBatch(_message.Message):
    __slots__ = ("deltas",)
    DELTAS_FIELD_NUMBER: _ClassVar[int]
    deltas: _containers.RepeatedCompositeFieldContainer[StreamDelta]
    def __init__(self, deltas: _Optional[_Iterable[_Union[StreamDelta, _Mapping]]] = ...) -> None: ...

class StreamCompleteResponse(_message.Message):
    __slots__ = ("start", "delta", "summary", "delta_batch")
    START_FIELD_NUMBER: _ClassVar[int]
    DELTA_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    DELTA_BATCH_FIELD_NUMBER: _ClassVar[int]
    start: StreamStart
    delta: StreamDelta
    summary: StreamSummary
    delta_batch: StreamDeltaBatch
    def __init__(self, start: _Optional[_Union[StreamStart, _Mapping]] = ..., delta: _Optional[_Union[StreamDelta, _Mapping]] = ..., summary: _Optional[_Union[StreamSummary, _Mapping]] = ..., delta_batch: _Optional[_Union[StreamDeltaBatch, _Mapping]] = ...) -> None: ...

class ListModelsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Capabilities(_message.Message):
    __slots__ = ("tools", "vision", "json_mode", "streaming", "reasoning", "embeddings")
    TOOLS_FIELD_NUMBER: _ClassVar[int]
    VISION_FIELD_NUMBER: _ClassVar[int]
    JSON_MODE_FIELD_NUMBER: _ClassVar[int]
    STREAMING_FIELD_NUMBER: _ClassVar[int]
    REASONING_FIELD_NUMBER: _ClassVar[int]
    EMBEDDINGS_FIELD_NUMBER: _ClassVar[int]
    tools: bool
    vision: bool
    json_mode: bool
    streaming: bool
    reasoning: bool
    embeddings: bool
    def __init__(self, tools: _Optional[bool] = ..., vision: _Optional[bool] = ..., json_mode: _Optional[bool] = ..., streaming: _Optional[bool] = ..., reasoning: _Optional[bool] = ..., embeddings: _Optional[bool] = ...) -> None: ...

class ModelInfo(_message.Message):
    __slots__ = ("name", "provider", "upstream_model", "capabilities", "context_window", "input_price_per_million", "output_price_per_million", "quality", "enabled", "priority", "local", "aliases", "cache_read_price_per_million", "cache_write_price_per_million", "cache_write_1h_price_per_million", "input_price_source", "output_price_source", "cache_read_price_source", "cache_write_price_source", "cache_write_1h_price_source", "max_output_tokens", "context_window_source", "dimensions", "max_inputs_per_request", "deployments", "balancing")
    NAME_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    UPSTREAM_MODEL_FIELD_NUMBER: _ClassVar[int]
    CAPABILITIES_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_WINDOW_FIELD_NUMBER: _ClassVar[int]
    INPUT_PRICE_PER_MILLION_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_PRICE_PER_MILLION_FIELD_NUMBER: _ClassVar[int]
    QUALITY_FIELD_NUMBER: _ClassVar[int]
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    LOCAL_FIELD_NUMBER: _ClassVar[int]
    ALIASES_FIELD_NUMBER: _ClassVar[int]
    CACHE_READ_PRICE_PER_MILLION_FIELD_NUMBER: _ClassVar[int]
    CACHE_WRITE_PRICE_PER_MILLION_FIELD_NUMBER: _ClassVar[int]
    CACHE_WRITE_1H_PRICE_PER_MILLION_FIELD_NUMBER: _ClassVar[int]
    INPUT_PRICE_SOURCE_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_PRICE_SOURCE_FIELD_NUMBER: _ClassVar[int]
    CACHE_READ_PRICE_SOURCE_FIELD_NUMBER: _ClassVar[int]
    CACHE_WRITE_PRICE_SOURCE_FIELD_NUMBER: _ClassVar[int]
    CACHE_WRITE_1H_PRICE_SOURCE_FIELD_NUMBER: _ClassVar[int]
    MAX_OUTPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_WINDOW_SOURCE_FIELD_NUMBER: _ClassVar[int]
    DIMENSIONS_FIELD_NUMBER: _ClassVar[int]
    MAX_INPUTS_PER_REQUEST_FIELD_NUMBER: _ClassVar[int]
    DEPLOYMENTS_FIELD_NUMBER: _ClassVar[int]
    BALANCING_FIELD_NUMBER: _ClassVar[int]
    name: str
    provider: str
    upstream_model: str
    capabilities: Capabilities
    context_window: int
    input_price_per_million: float
    output_price_per_million: float
    quality: float
    enabled: bool
    priority: int
    local: bool
    aliases: _containers.RepeatedScalarFieldContainer[str]
    cache_read_price_per_million: float
    cache_write_price_per_million: float
    cache_write_1h_price_per_million: float
    input_price_source: PriceSource
    output_price_source: PriceSource
    cache_read_price_source: PriceSource
    cache_write_price_source: PriceSource
    cache_write_1h_price_source: PriceSource
    max_output_tokens: int
    context_window_source: str
    dimensions: int
    max_inputs_per_request: int
    deployments: _containers.RepeatedCompositeFieldContainer[DeploymentInfo]
    balancing: str
    def __init__(self, name: _Optional[str] = ..., provider: _Optional[str] = ..., upstream_model: _Optional[str] = ..., capabilities: _Optional[_Union[Capabilities, _Mapping]] = ..., context_window: _Optional[int] = ..., input_price_per_million: _Optional[float] = ..., output_price_per_million: _Optional[float] = ..., quality: _Optional[float] = ..., enabled: _Optional[bool] = ..., priority: _Optional[int] = ..., local: _Optional[bool] = ..., aliases: _Optional[_Iterable[str]] = ..., cache_read_price_per_million: _Optional[float] = ..., cache_write_price_per_million: _Optional[float] = ..., cache_write_1h_price_per_million: _Optional[float] = ..., input_price_source: _Optional[_Union[PriceSource, str]] = ..., output_price_source: _Optional[_Union[PriceSource, str]] = ..., cache_read_price_source: _Optional[_Union[PriceSource, str]] = ..., cache_write_price_source: _Optional[_Union[PriceSource, str]] = ..., cache_write_1h_price_source: _Optional[_Union[PriceSource, str]] = ..., max_output_tokens: _Optional[int] = ..., context_window_source: _Optional[str] = ..., dimensions: _Optional[int] = ..., max_inputs_per_request: _Optional[int] = ..., deployments: _Optional[_Iterable[_Union[DeploymentInfo, _Mapping]]] = ..., balancing: _Optional[str] = ...) -> None: ...

class DeploymentInfo(_message.Message):
    __slots__ = ("name", "provider", "upstream_model", "input_price_per_million", "output_price_per_million", "weight", "rpm", "tpm", "outstanding", "breaker_state")
    NAME_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    UPSTREAM_MODEL_FIELD_NUMBER: _ClassVar[int]
    INPUT_PRICE_PER_MILLION_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_PRICE_PER_MILLION_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_FIELD_NUMBER: _ClassVar[int]
    RPM_FIELD_NUMBER: _ClassVar[int]
    TPM_FIELD_NUMBER: _ClassVar[int]
    OUTSTANDING_FIELD_NUMBER: _ClassVar[int]
    BREAKER_STATE_FIELD_NUMBER: _ClassVar[int]
    name: str
    provider: str
    upstream_model: str
    input_price_per_million: float
    output_price_per_million: float
    weight: float
    rpm: int
    tpm: int
    outstanding: int
    breaker_state: str
    def __init__(self, name: _Optional[str] = ..., provider: _Optional[str] = ..., upstream_model: _Optional[str] = ..., input_price_per_million: _Optional[float] = ..., output_price_per_million: _Optional[float] = ..., weight: _Optional[float] = ..., rpm: _Optional[int] = ..., tpm: _Optional[int] = ..., outstanding: _Optional[int] = ..., breaker_state: _Optional[str] = ...) -> None: ...

class CategoryInfo(_message.Message):
    __slots__ = ("name", "chain")
    NAME_FIELD_NUMBER: _ClassVar[int]
    CHAIN_FIELD_NUMBER: _ClassVar[int]
    name: str
    chain: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, name: _Optional[str] = ..., chain: _Optional[_Iterable[str]] = ...) -> None: ...

class ListModelsResponse(_message.Message):
    __slots__ = ("models", "categories", "default_chain")
    MODELS_FIELD_NUMBER: _ClassVar[int]
    CATEGORIES_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_CHAIN_FIELD_NUMBER: _ClassVar[int]
    models: _containers.RepeatedCompositeFieldContainer[ModelInfo]
    categories: _containers.RepeatedCompositeFieldContainer[CategoryInfo]
    default_chain: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, models: _Optional[_Iterable[_Union[ModelInfo, _Mapping]]] = ..., categories: _Optional[_Iterable[_Union[CategoryInfo, _Mapping]]] = ..., default_chain: _Optional[_Iterable[str]] = ...) -> None: ...

class EmbedRequest(_message.Message):
    __slots__ = ("model", "inputs", "dimensions", "user", "caller", "client_request_id", "metadata", "routing", "fallback_models", "front_door")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    MODEL_FIELD_NUMBER: _ClassVar[int]
    INPUTS_FIELD_NUMBER: _ClassVar[int]
    DIMENSIONS_FIELD_NUMBER: _ClassVar[int]
    USER_FIELD_NUMBER: _ClassVar[int]
    CALLER_FIELD_NUMBER: _ClassVar[int]
    CLIENT_REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    ROUTING_FIELD_NUMBER: _ClassVar[int]
    FALLBACK_MODELS_FIELD_NUMBER: _ClassVar[int]
    FRONT_DOOR_FIELD_NUMBER: _ClassVar[int]
    model: str
    inputs: _containers.RepeatedScalarFieldContainer[str]
    dimensions: int
    user: str
    caller: _chat_pb2.Caller
    client_request_id: str
    metadata: _containers.ScalarMap[str, str]
    routing: _chat_pb2.RoutingOptions
    fallback_models: _containers.RepeatedScalarFieldContainer[str]
    front_door: str
    def __init__(self, model: _Optional[str] = ..., inputs: _Optional[_Iterable[str]] = ..., dimensions: _Optional[int] = ..., user: _Optional[str] = ..., caller: _Optional[_Union[_chat_pb2.Caller, _Mapping]] = ..., client_request_id: _Optional[str] = ..., metadata: _Optional[_Mapping[str, str]] = ..., routing: _Optional[_Union[_chat_pb2.RoutingOptions, _Mapping]] = ..., fallback_models: _Optional[_Iterable[str]] = ..., front_door: _Optional[str] = ...) -> None: ...

class Embedding(_message.Message):
    __slots__ = ("index", "values")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    index: int
    values: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, index: _Optional[int] = ..., values: _Optional[_Iterable[float]] = ...) -> None: ...

class EmbedResponse(_message.Message):
    __slots__ = ("request_id", "model", "provider", "embeddings", "usage", "attempts", "category", "create_time", "fallback", "trace_id", "upstream_calls")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    EMBEDDINGS_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    FALLBACK_FIELD_NUMBER: _ClassVar[int]
    TRACE_ID_FIELD_NUMBER: _ClassVar[int]
    UPSTREAM_CALLS_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    model: str
    provider: str
    embeddings: _containers.RepeatedCompositeFieldContainer[Embedding]
    usage: _chat_pb2.Usage
    attempts: _containers.RepeatedCompositeFieldContainer[_chat_pb2.Attempt]
    category: str
    create_time: _timestamp_pb2.Timestamp
    fallback: bool
    trace_id: str
    upstream_calls: int
    def __init__(self, request_id: _Optional[str] = ..., model: _Optional[str] = ..., provider: _Optional[str] = ..., embeddings: _Optional[_Iterable[_Union[Embedding, _Mapping]]] = ..., usage: _Optional[_Union[_chat_pb2.Usage, _Mapping]] = ..., attempts: _Optional[_Iterable[_Union[_chat_pb2.Attempt, _Mapping]]] = ..., category: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., fallback: _Optional[bool] = ..., trace_id: _Optional[str] = ..., upstream_calls: _Optional[int] = ...) -> None: ...

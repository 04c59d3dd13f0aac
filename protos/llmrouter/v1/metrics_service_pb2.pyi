import datetime

from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class UsageStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    USAGE_STATUS_UNSPECIFIED: _ClassVar[UsageStatus]
    USAGE_STATUS_SUCCEEDED: _ClassVar[UsageStatus]
    USAGE_STATUS_FAILED: _ClassVar[UsageStatus]
    USAGE_STATUS_CANCELLED: _ClassVar[UsageStatus]

class Dimension(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DIMENSION_UNSPECIFIED: _ClassVar[Dimension]
    DIMENSION_PROVIDER: _ClassVar[Dimension]
    DIMENSION_MODEL: _ClassVar[Dimension]
    DIMENSION_CATEGORY: _ClassVar[Dimension]
    DIMENSION_SOURCE: _ClassVar[Dimension]
    DIMENSION_API_KEY: _ClassVar[Dimension]
    DIMENSION_TEAM: _ClassVar[Dimension]
    DIMENSION_DEPLOYMENT: _ClassVar[Dimension]

class TimeBucket(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TIME_BUCKET_UNSPECIFIED: _ClassVar[TimeBucket]
    TIME_BUCKET_HOUR: _ClassVar[TimeBucket]
    TIME_BUCKET_DAY: _ClassVar[TimeBucket]

class FeedbackScale(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    FEEDBACK_SCALE_UNSPECIFIED: _ClassVar[FeedbackScale]
    FEEDBACK_SCALE_THUMBS: _ClassVar[FeedbackScale]
    FEEDBACK_SCALE_STARS: _ClassVar[FeedbackScale]
    FEEDBACK_SCALE_FRACTION: _ClassVar[FeedbackScale]
USAGE_STATUS_UNSPECIFIED: UsageStatus
USAGE_STATUS_SUCCEEDED: UsageStatus
USAGE_STATUS_FAILED: UsageStatus
USAGE_STATUS_CANCELLED: UsageStatus
DIMENSION_UNSPECIFIED: Dimension
DIMENSION_PROVIDER: Dimension
DIMENSION_MODEL: Dimension
DIMENSION_CATEGORY: Dimension
DIMENSION_SOURCE: Dimension
DIMENSION_API_KEY: Dimension
DIMENSION_TEAM: Dimension
DIMENSION_DEPLOYMENT: Dimension
TIME_BUCKET_UNSPECIFIED: TimeBucket
TIME_BUCKET_HOUR: TimeBucket
TIME_BUCKET_DAY: TimeBucket
FEEDBACK_SCALE_UNSPECIFIED: FeedbackScale
FEEDBACK_SCALE_THUMBS: FeedbackScale
FEEDBACK_SCALE_STARS: FeedbackScale
FEEDBACK_SCALE_FRACTION: FeedbackScale

class UsageRecord(_message.Message):
    __slots__ = ("id", "request_id", "attempt", "time", "provider", "model", "category", "task_type", "source", "api_key_id", "prompt_tokens", "completion_tokens", "total_tokens", "cost_usd", "duration", "time_to_first_token", "status", "error_type", "fallback", "fallback_from", "trace_id", "metadata", "local", "streamed", "span_id", "client_request_id", "fallback_reason", "cache_read_tokens", "cache_write_tokens", "reasoning_tokens", "usage_estimated", "saved_cost_usd", "front_door", "team_id", "deployment")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    TASK_TYPE_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    API_KEY_ID_FIELD_NUMBER: _ClassVar[int]
    PROMPT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    COMPLETION_TOKENS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_TOKENS_FIELD_NUMBER: _ClassVar[int]
    COST_USD_FIELD_NUMBER: _ClassVar[int]
    DURATION_FIELD_NUMBER: _ClassVar[int]
    TIME_TO_FIRST_TOKEN_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    ERROR_TYPE_FIELD_NUMBER: _ClassVar[int]
    FALLBACK_FIELD_NUMBER: _ClassVar[int]
    FALLBACK_FROM_FIELD_NUMBER: _ClassVar[int]
    TRACE_ID_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    LOCAL_FIELD_NUMBER: _ClassVar[int]
    STREAMED_FIELD_NUMBER: _ClassVar[int]
    SPAN_ID_FIELD_NUMBER: _ClassVar[int]
    CLIENT_REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    FALLBACK_REASON_FIELD_NUMBER: _ClassVar[int]
    CACHE_READ_TOKENS_FIELD_NUMBER: _ClassVar[int]
    CACHE_WRITE_TOKENS_FIELD_NUMBER: _ClassVar[int]
    REASONING_TOKENS_FIELD_NUMBER: _ClassVar[int]
    USAGE_ESTIMATED_FIELD_NUMBER: _ClassVar[int]
    SAVED_COST_USD_FIELD_NUMBER: _ClassVar[int]
    FRONT_DOOR_FIELD_NUMBER: _ClassVar[int]
    TEAM_ID_FIELD_NUMBER: _ClassVar[int]
    DEPLOYMENT_FIELD_NUMBER: _ClassVar[int]
    id: str
    request_id: str
    attempt: int
    time: _timestamp_pb2.Timestamp
    provider: str
    model: str
    category: str
    task_type: str
    source: str
    api_key_id: str
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    cost_usd: float
    duration: _duration_pb2.Duration
    time_to_first_token: _duration_pb2.Duration
    status: UsageStatus
    error_type: str
    fallback: bool
    fallback_from: str
    trace_id: str
    metadata: _containers.ScalarMap[str, str]
    local: bool
    streamed: bool
    span_id: str
    client_request_id: str
    fallback_reason: str
    cache_read_tokens: int
    cache_write_tokens: int
    reasoning_tokens: int
    usage_estimated: bool
    saved_cost_usd: float
    front_door: str
    team_id: str
    deployment: str
    def __init__(self, id: _Optional[str] = ..., request_id: _Optional[str] = ..., attempt: _Optional[int] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., provider: _Optional[str] = ..., model: _Optional[str] = ..., category: _Optional[str] = ..., task_type: _Optional[str] = ..., source: _Optional[str] = ..., api_key_id: _Optional[str] = ..., prompt_tokens: _Optional[int] = ..., completion_tokens: _Optional[int] = ..., total_tokens: _Optional[int] = ..., cost_usd: _Optional[float] = ..., duration: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., time_to_first_token: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., status: _Optional[_Union[UsageStatus, str]] = ..., error_type: _Optional[str] = ..., fallback: _Optional[bool] = ..., fallback_from: _Optional[str] = ..., trace_id: _Optional[str] = ..., metadata: _Optional[_Mapping[str, str]] = ..., local: _Optional[bool] = ..., streamed: _Optional[bool] = ..., span_id: _Optional[str] = ..., client_request_id: _Optional[str] = ..., fallback_reason: _Optional[str] = ..., cache_read_tokens: _Optional[int] = ..., cache_write_tokens: _Optional[int] = ..., reasoning_tokens: _Optional[int] = ..., usage_estimated: _Optional[bool] = ..., saved_cost_usd: _Optional[float] = ..., front_door: _Optional[str] = ..., team_id: _Optional[str] = ..., deployment: _Optional[str] = ...) -> None: ...

class RecordUsageRequest(_message.Message):
    __slots__ = ("records",)
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    records: _containers.RepeatedCompositeFieldContainer[UsageRecord]
    def __init__(self, records: _Optional[_Iterable[_Union[UsageRecord, _Mapping]]] = ...) -> None: ...

class RecordUsageResponse(_message.Message):
    __slots__ = ("inserted_count", "duplicate_count")
    INSERTED_COUNT_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_COUNT_FIELD_NUMBER: _ClassVar[int]
    inserted_count: int
    duplicate_count: int
    def __init__(self, inserted_count: _Optional[int] = ..., duplicate_count: _Optional[int] = ...) -> None: ...

class CostFilter(_message.Message):
    __slots__ = ("providers", "models", "categories", "sources", "api_key_ids", "team_ids")
    PROVIDERS_FIELD_NUMBER: _ClassVar[int]
    MODELS_FIELD_NUMBER: _ClassVar[int]
    CATEGORIES_FIELD_NUMBER: _ClassVar[int]
    SOURCES_FIELD_NUMBER: _ClassVar[int]
    API_KEY_IDS_FIELD_NUMBER: _ClassVar[int]
    TEAM_IDS_FIELD_NUMBER: _ClassVar[int]
    providers: _containers.RepeatedScalarFieldContainer[str]
    models: _containers.RepeatedScalarFieldContainer[str]
    categories: _containers.RepeatedScalarFieldContainer[str]
    sources: _containers.RepeatedScalarFieldContainer[str]
    api_key_ids: _containers.RepeatedScalarFieldContainer[str]
    team_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, providers: _Optional[_Iterable[str]] = ..., models: _Optional[_Iterable[str]] = ..., categories: _Optional[_Iterable[str]] = ..., sources: _Optional[_Iterable[str]] = ..., api_key_ids: _Optional[_Iterable[str]] = ..., team_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class QueryCostsRequest(_message.Message):
    __slots__ = ("start_time", "end_time", "filter", "group_by", "bucket", "reference_model")
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    FILTER_FIELD_NUMBER: _ClassVar[int]
    GROUP_BY_FIELD_NUMBER: _ClassVar[int]
    BUCKET_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_MODEL_FIELD_NUMBER: _ClassVar[int]
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    filter: CostFilter
    group_by: _containers.RepeatedScalarFieldContainer[Dimension]
    bucket: TimeBucket
    reference_model: str
    def __init__(self, start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., filter: _Optional[_Union[CostFilter, _Mapping]] = ..., group_by: _Optional[_Iterable[_Union[Dimension, str]]] = ..., bucket: _Optional[_Union[TimeBucket, str]] = ..., reference_model: _Optional[str] = ...) -> None: ...

class CostSummary(_message.Message):
    __slots__ = ("requests", "successes", "failures", "prompt_tokens", "completion_tokens", "total_tokens", "cost_usd", "average_latency", "p95_latency", "fallback_count", "fallback_rate", "local_requests", "remote_requests", "reference_cost_usd", "savings_usd", "savings_percent", "cache_read_tokens", "cache_write_tokens", "reasoning_tokens", "cancellations", "unpriced_requests", "estimated_requests", "cache_hits", "cache_saved_usd")
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    SUCCESSES_FIELD_NUMBER: _ClassVar[int]
    FAILURES_FIELD_NUMBER: _ClassVar[int]
    PROMPT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    COMPLETION_TOKENS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_TOKENS_FIELD_NUMBER: _ClassVar[int]
    COST_USD_FIELD_NUMBER: _ClassVar[int]
    AVERAGE_LATENCY_FIELD_NUMBER: _ClassVar[int]
    P95_LATENCY_FIELD_NUMBER: _ClassVar[int]
    FALLBACK_COUNT_FIELD_NUMBER: _ClassVar[int]
    FALLBACK_RATE_FIELD_NUMBER: _ClassVar[int]
    LOCAL_REQUESTS_FIELD_NUMBER: _ClassVar[int]
    REMOTE_REQUESTS_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_COST_USD_FIELD_NUMBER: _ClassVar[int]
    SAVINGS_USD_FIELD_NUMBER: _ClassVar[int]
    SAVINGS_PERCENT_FIELD_NUMBER: _ClassVar[int]
    CACHE_READ_TOKENS_FIELD_NUMBER: _ClassVar[int]
    CACHE_WRITE_TOKENS_FIELD_NUMBER: _ClassVar[int]
    REASONING_TOKENS_FIELD_NUMBER: _ClassVar[int]
    CANCELLATIONS_FIELD_NUMBER: _ClassVar[int]
    UNPRICED_REQUESTS_FIELD_NUMBER: _ClassVar[int]
    ESTIMATED_REQUESTS_FIELD_NUMBER: _ClassVar[int]
    CACHE_HITS_FIELD_NUMBER: _ClassVar[int]
    CACHE_SAVED_USD_FIELD_NUMBER: _ClassVar[int]
    requests: int
    successes: int
    failures: int
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    cost_usd: float
    average_latency: _duration_pb2.Duration
    p95_latency: _duration_pb2.Duration
    fallback_count: int
    fallback_rate: float
    local_requests: int
    remote_requests: int
    reference_cost_usd: float
    savings_usd: float
    savings_percent: float
    cache_read_tokens: int
    cache_write_tokens: int
    reasoning_tokens: int
    cancellations: int
    unpriced_requests: int
    estimated_requests: int
    cache_hits: int
    cache_saved_usd: float
    def __init__(self, requests: _Optional[int] = ..., successes: _Optional[int] = ..., failures: _Optional[int] = ..., prompt_tokens: _Optional[int] = ..., completion_tokens: _Optional[int] = ..., total_tokens: _Optional[int] = ..., cost_usd: _Optional[float] = ..., average_latency: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., p95_latency: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., fallback_count: _Optional[int] = ..., fallback_rate: _Optional[float] = ..., local_requests: _Optional[int] = ..., remote_requests: _Optional[int] = ..., reference_cost_usd: _Optional[float] = ..., savings_usd: _Optional[float] = ..., savings_percent: _Optional[float] = ..., cache_read_tokens: _Optional[int] = ..., cache_write_tokens: _Optional[int] = ..., reasoning_tokens: _Optional[int] = ..., cancellations: _Optional[int] = ..., unpriced_requests: _Optional[int] = ..., estimated_requests: _Optional[int] = ..., cache_hits: _Optional[int] = ..., cache_saved_usd: _Optional[float] = ...) -> None: ...

class CostGroup(_message.Message):
    __slots__ = ("provider", "model", "category", "source", "api_key_id", "bucket_start_time", "summary", "team_id", "deployment")
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    API_KEY_ID_FIELD_NUMBER: _ClassVar[int]
    BUCKET_START_TIME_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    TEAM_ID_FIELD_NUMBER: _ClassVar[int]
    DEPLOYMENT_FIELD_NUMBER: _ClassVar[int]
    provider: str
    model: str
    category: str
    source: str
    api_key_id: str
    bucket_start_time: _timestamp_pb2.Timestamp
    summary: CostSummary
    team_id: str
    deployment: str
    def __init__(self, provider: _Optional[str] = ..., model: _Optional[str] = ..., category: _Optional[str] = ..., source: _Optional[str] = ..., api_key_id: _Optional[str] = ..., bucket_start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., summary: _Optional[_Union[CostSummary, _Mapping]] = ..., team_id: _Optional[str] = ..., deployment: _Optional[str] = ...) -> None: ...

class QueryCostsResponse(_message.Message):
    __slots__ = ("totals", "groups", "reference_model")
    TOTALS_FIELD_NUMBER: _ClassVar[int]
    GROUPS_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_MODEL_FIELD_NUMBER: _ClassVar[int]
    totals: CostSummary
    groups: _containers.RepeatedCompositeFieldContainer[CostGroup]
    reference_model: str
    def __init__(self, totals: _Optional[_Union[CostSummary, _Mapping]] = ..., groups: _Optional[_Iterable[_Union[CostGroup, _Mapping]]] = ..., reference_model: _Optional[str] = ...) -> None: ...

class ListFallbackEventsRequest(_message.Message):
    __slots__ = ("start_time", "end_time", "page_size", "filter")
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    FILTER_FIELD_NUMBER: _ClassVar[int]
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    page_size: int
    filter: CostFilter
    def __init__(self, start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., page_size: _Optional[int] = ..., filter: _Optional[_Union[CostFilter, _Mapping]] = ...) -> None: ...

class FallbackEvent(_message.Message):
    __slots__ = ("request_id", "attempt", "time", "model", "provider", "fallback_from", "reason", "status", "category", "source", "trace_id")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    FALLBACK_FROM_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    TRACE_ID_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    attempt: int
    time: _timestamp_pb2.Timestamp
    model: str
    provider: str
    fallback_from: str
    reason: str
    status: UsageStatus
    category: str
    source: str
    trace_id: str
    def __init__(self, request_id: _Optional[str] = ..., attempt: _Optional[int] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., model: _Optional[str] = ..., provider: _Optional[str] = ..., fallback_from: _Optional[str] = ..., reason: _Optional[str] = ..., status: _Optional[_Union[UsageStatus, str]] = ..., category: _Optional[str] = ..., source: _Optional[str] = ..., trace_id: _Optional[str] = ...) -> None: ...

class ListFallbackEventsResponse(_message.Message):
    __slots__ = ("events",)
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[FallbackEvent]
    def __init__(self, events: _Optional[_Iterable[_Union[FallbackEvent, _Mapping]]] = ...) -> None: ...

class GetProviderHealthRequest(_message.Message):
    __slots__ = ("start_time", "end_time", "filter")
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    FILTER_FIELD_NUMBER: _ClassVar[int]
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    filter: CostFilter
    def __init__(self, start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., filter: _Optional[_Union[CostFilter, _Mapping]] = ...) -> None: ...

class ProviderHealth(_message.Message):
    __slots__ = ("provider", "requests", "successes", "failures", "success_rate", "average_latency", "last_success_time", "last_failure_time", "last_error_type")
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    SUCCESSES_FIELD_NUMBER: _ClassVar[int]
    FAILURES_FIELD_NUMBER: _ClassVar[int]
    SUCCESS_RATE_FIELD_NUMBER: _ClassVar[int]
    AVERAGE_LATENCY_FIELD_NUMBER: _ClassVar[int]
    LAST_SUCCESS_TIME_FIELD_NUMBER: _ClassVar[int]
    LAST_FAILURE_TIME_FIELD_NUMBER: _ClassVar[int]
    LAST_ERROR_TYPE_FIELD_NUMBER: _ClassVar[int]
    provider: str
    requests: int
    successes: int
    failures: int
    success_rate: float
    average_latency: _duration_pb2.Duration
    last_success_time: _timestamp_pb2.Timestamp
    last_failure_time: _timestamp_pb2.Timestamp
    last_error_type: str
    def __init__(self, provider: _Optional[str] = ..., requests: _Optional[int] = ..., successes: _Optional[int] = ..., failures: _Optional[int] = ..., success_rate: _Optional[float] = ..., average_latency: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., last_success_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_failure_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_error_type: _Optional[str] = ...) -> None: ...

class GetProviderHealthResponse(_message.Message):
    __slots__ = ("providers",)
    PROVIDERS_FIELD_NUMBER: _ClassVar[int]
    providers: _containers.RepeatedCompositeFieldContainer[ProviderHealth]
    def __init__(self, providers: _Optional[_Iterable[_Union[ProviderHealth, _Mapping]]] = ...) -> None: ...

class RequestFilter(_message.Message):
    __slots__ = ("api_key_ids", "models", "statuses", "categories")
    API_KEY_IDS_FIELD_NUMBER: _ClassVar[int]
    MODELS_FIELD_NUMBER: _ClassVar[int]
    STATUSES_FIELD_NUMBER: _ClassVar[int]
    CATEGORIES_FIELD_NUMBER: _ClassVar[int]
    api_key_ids: _containers.RepeatedScalarFieldContainer[str]
    models: _containers.RepeatedScalarFieldContainer[str]
    statuses: _containers.RepeatedScalarFieldContainer[UsageStatus]
    categories: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, api_key_ids: _Optional[_Iterable[str]] = ..., models: _Optional[_Iterable[str]] = ..., statuses: _Optional[_Iterable[_Union[UsageStatus, str]]] = ..., categories: _Optional[_Iterable[str]] = ...) -> None: ...

class ListRequestsRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "filter", "start_time", "end_time")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    FILTER_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    filter: RequestFilter
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., filter: _Optional[_Union[RequestFilter, _Mapping]] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class RequestLogEntry(_message.Message):
    __slots__ = ("request_id", "time", "api_key_id", "category", "source", "models", "final_model", "final_provider", "attempts", "status", "error_type", "prompt_tokens", "completion_tokens", "total_tokens", "cache_read_tokens", "cache_write_tokens", "reasoning_tokens", "cost_usd", "latency", "trace_id", "client_request_id", "streamed", "usage_estimated", "deployments", "final_deployment")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    API_KEY_ID_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    MODELS_FIELD_NUMBER: _ClassVar[int]
    FINAL_MODEL_FIELD_NUMBER: _ClassVar[int]
    FINAL_PROVIDER_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    ERROR_TYPE_FIELD_NUMBER: _ClassVar[int]
    PROMPT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    COMPLETION_TOKENS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_TOKENS_FIELD_NUMBER: _ClassVar[int]
    CACHE_READ_TOKENS_FIELD_NUMBER: _ClassVar[int]
    CACHE_WRITE_TOKENS_FIELD_NUMBER: _ClassVar[int]
    REASONING_TOKENS_FIELD_NUMBER: _ClassVar[int]
    COST_USD_FIELD_NUMBER: _ClassVar[int]
    LATENCY_FIELD_NUMBER: _ClassVar[int]
    TRACE_ID_FIELD_NUMBER: _ClassVar[int]
    CLIENT_REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    STREAMED_FIELD_NUMBER: _ClassVar[int]
    USAGE_ESTIMATED_FIELD_NUMBER: _ClassVar[int]
    DEPLOYMENTS_FIELD_NUMBER: _ClassVar[int]
    FINAL_DEPLOYMENT_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    time: _timestamp_pb2.Timestamp
    api_key_id: str
    category: str
    source: str
    models: _containers.RepeatedScalarFieldContainer[str]
    final_model: str
    final_provider: str
    attempts: int
    status: UsageStatus
    error_type: str
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    reasoning_tokens: int
    cost_usd: float
    latency: _duration_pb2.Duration
    trace_id: str
    client_request_id: str
    streamed: bool
    usage_estimated: bool
    deployments: _containers.RepeatedScalarFieldContainer[str]
    final_deployment: str
    def __init__(self, request_id: _Optional[str] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., api_key_id: _Optional[str] = ..., category: _Optional[str] = ..., source: _Optional[str] = ..., models: _Optional[_Iterable[str]] = ..., final_model: _Optional[str] = ..., final_provider: _Optional[str] = ..., attempts: _Optional[int] = ..., status: _Optional[_Union[UsageStatus, str]] = ..., error_type: _Optional[str] = ..., prompt_tokens: _Optional[int] = ..., completion_tokens: _Optional[int] = ..., total_tokens: _Optional[int] = ..., cache_read_tokens: _Optional[int] = ..., cache_write_tokens: _Optional[int] = ..., reasoning_tokens: _Optional[int] = ..., cost_usd: _Optional[float] = ..., latency: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., trace_id: _Optional[str] = ..., client_request_id: _Optional[str] = ..., streamed: _Optional[bool] = ..., usage_estimated: _Optional[bool] = ..., deployments: _Optional[_Iterable[str]] = ..., final_deployment: _Optional[str] = ...) -> None: ...

class ListRequestsResponse(_message.Message):
    __slots__ = ("requests", "next_page_token")
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    requests: _containers.RepeatedCompositeFieldContainer[RequestLogEntry]
    next_page_token: str
    def __init__(self, requests: _Optional[_Iterable[_Union[RequestLogEntry, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class Feedback(_message.Message):
    __slots__ = ("request_id", "source", "score", "scale", "raw_score", "label", "comment", "model", "category", "api_key_id", "team_id", "time", "sequence", "deployment")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    SCALE_FIELD_NUMBER: _ClassVar[int]
    RAW_SCORE_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    COMMENT_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    API_KEY_ID_FIELD_NUMBER: _ClassVar[int]
    TEAM_ID_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    DEPLOYMENT_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    source: str
    score: float
    scale: FeedbackScale
    raw_score: float
    label: str
    comment: str
    model: str
    category: str
    api_key_id: str
    team_id: str
    time: _timestamp_pb2.Timestamp
    sequence: int
    deployment: str
    def __init__(self, request_id: _Optional[str] = ..., source: _Optional[str] = ..., score: _Optional[float] = ..., scale: _Optional[_Union[FeedbackScale, str]] = ..., raw_score: _Optional[float] = ..., label: _Optional[str] = ..., comment: _Optional[str] = ..., model: _Optional[str] = ..., category: _Optional[str] = ..., api_key_id: _Optional[str] = ..., team_id: _Optional[str] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., sequence: _Optional[int] = ..., deployment: _Optional[str] = ...) -> None: ...

class RecordFeedbackRequest(_message.Message):
    __slots__ = ("feedback", "caller_api_key_id", "caller_team_id")
    FEEDBACK_FIELD_NUMBER: _ClassVar[int]
    CALLER_API_KEY_ID_FIELD_NUMBER: _ClassVar[int]
    CALLER_TEAM_ID_FIELD_NUMBER: _ClassVar[int]
    feedback: Feedback
    caller_api_key_id: str
    caller_team_id: str
    def __init__(self, feedback: _Optional[_Union[Feedback, _Mapping]] = ..., caller_api_key_id: _Optional[str] = ..., caller_team_id: _Optional[str] = ...) -> None: ...

class RecordFeedbackResponse(_message.Message):
    __slots__ = ("feedback", "replaced")
    FEEDBACK_FIELD_NUMBER: _ClassVar[int]
    REPLACED_FIELD_NUMBER: _ClassVar[int]
    feedback: Feedback
    replaced: bool
    def __init__(self, feedback: _Optional[_Union[Feedback, _Mapping]] = ..., replaced: _Optional[bool] = ...) -> None: ...

class ListFeedbackRequest(_message.Message):
    __slots__ = ("after_sequence", "page_size")
    AFTER_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    after_sequence: int
    page_size: int
    def __init__(self, after_sequence: _Optional[int] = ..., page_size: _Optional[int] = ...) -> None: ...

class ListFeedbackResponse(_message.Message):
    __slots__ = ("feedback", "last_sequence")
    FEEDBACK_FIELD_NUMBER: _ClassVar[int]
    LAST_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    feedback: _containers.RepeatedCompositeFieldContainer[Feedback]
    last_sequence: int
    def __init__(self, feedback: _Optional[_Iterable[_Union[Feedback, _Mapping]]] = ..., last_sequence: _Optional[int] = ...) -> None: ...

class QueryQualityRequest(_message.Message):
    __slots__ = ("start_time",)
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    start_time: _timestamp_pb2.Timestamp
    def __init__(self, start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class QualityStats(_message.Message):
    __slots__ = ("model", "category", "source_kind", "count", "score_sum", "score_sum_squares", "last_time")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    SOURCE_KIND_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    SCORE_SUM_FIELD_NUMBER: _ClassVar[int]
    SCORE_SUM_SQUARES_FIELD_NUMBER: _ClassVar[int]
    LAST_TIME_FIELD_NUMBER: _ClassVar[int]
    model: str
    category: str
    source_kind: str
    count: int
    score_sum: float
    score_sum_squares: float
    last_time: _timestamp_pb2.Timestamp
    def __init__(self, model: _Optional[str] = ..., category: _Optional[str] = ..., source_kind: _Optional[str] = ..., count: _Optional[int] = ..., score_sum: _Optional[float] = ..., score_sum_squares: _Optional[float] = ..., last_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class QueryQualityResponse(_message.Message):
    __slots__ = ("stats",)
    STATS_FIELD_NUMBER: _ClassVar[int]
    stats: _containers.RepeatedCompositeFieldContainer[QualityStats]
    def __init__(self, stats: _Optional[_Iterable[_Union[QualityStats, _Mapping]]] = ...) -> None: ...

import datetime

from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import field_mask_pb2 as _field_mask_pb2
from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ValueSource(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    VALUE_SOURCE_UNSPECIFIED: _ClassVar[ValueSource]
    VALUE_SOURCE_CONFIG: _ClassVar[ValueSource]
    VALUE_SOURCE_RUNTIME: _ClassVar[ValueSource]

class BreakerState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    BREAKER_STATE_UNSPECIFIED: _ClassVar[BreakerState]
    BREAKER_STATE_CLOSED: _ClassVar[BreakerState]
    BREAKER_STATE_OPEN: _ClassVar[BreakerState]
    BREAKER_STATE_HALF_OPEN: _ClassVar[BreakerState]

class AlertDeliveryStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ALERT_DELIVERY_STATUS_UNSPECIFIED: _ClassVar[AlertDeliveryStatus]
    ALERT_DELIVERY_STATUS_PENDING: _ClassVar[AlertDeliveryStatus]
    ALERT_DELIVERY_STATUS_DELIVERED: _ClassVar[AlertDeliveryStatus]
    ALERT_DELIVERY_STATUS_FAILED: _ClassVar[AlertDeliveryStatus]
    ALERT_DELIVERY_STATUS_PARTIAL: _ClassVar[AlertDeliveryStatus]
    ALERT_DELIVERY_STATUS_NO_WEBHOOK: _ClassVar[AlertDeliveryStatus]

class ApiKeyRole(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    API_KEY_ROLE_UNSPECIFIED: _ClassVar[ApiKeyRole]
    API_KEY_ROLE_USER: _ClassVar[ApiKeyRole]
    API_KEY_ROLE_ADMIN: _ClassVar[ApiKeyRole]

class BudgetPeriod(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    BUDGET_PERIOD_UNSPECIFIED: _ClassVar[BudgetPeriod]
    BUDGET_PERIOD_DAY: _ClassVar[BudgetPeriod]
    BUDGET_PERIOD_WEEK: _ClassVar[BudgetPeriod]
    BUDGET_PERIOD_MONTH: _ClassVar[BudgetPeriod]
    BUDGET_PERIOD_ROLLING: _ClassVar[BudgetPeriod]
VALUE_SOURCE_UNSPECIFIED: ValueSource
VALUE_SOURCE_CONFIG: ValueSource
VALUE_SOURCE_RUNTIME: ValueSource
BREAKER_STATE_UNSPECIFIED: BreakerState
BREAKER_STATE_CLOSED: BreakerState
BREAKER_STATE_OPEN: BreakerState
BREAKER_STATE_HALF_OPEN: BreakerState
ALERT_DELIVERY_STATUS_UNSPECIFIED: AlertDeliveryStatus
ALERT_DELIVERY_STATUS_PENDING: AlertDeliveryStatus
ALERT_DELIVERY_STATUS_DELIVERED: AlertDeliveryStatus
ALERT_DELIVERY_STATUS_FAILED: AlertDeliveryStatus
ALERT_DELIVERY_STATUS_PARTIAL: AlertDeliveryStatus
ALERT_DELIVERY_STATUS_NO_WEBHOOK: AlertDeliveryStatus
API_KEY_ROLE_UNSPECIFIED: ApiKeyRole
API_KEY_ROLE_USER: ApiKeyRole
API_KEY_ROLE_ADMIN: ApiKeyRole
BUDGET_PERIOD_UNSPECIFIED: BudgetPeriod
BUDGET_PERIOD_DAY: BudgetPeriod
BUDGET_PERIOD_WEEK: BudgetPeriod
BUDGET_PERIOD_MONTH: BudgetPeriod
BUDGET_PERIOD_ROLLING: BudgetPeriod

class ModelHealth(_message.Message):
    __slots__ = ("model", "provider", "enabled", "breaker_state", "success_rate", "ewma_latency", "last_success_time", "last_failure_time", "consecutive_failures", "last_error_type", "success_count", "failure_count", "breaker_retry_delay", "local", "enabled_source", "deployment", "deployments")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    BREAKER_STATE_FIELD_NUMBER: _ClassVar[int]
    SUCCESS_RATE_FIELD_NUMBER: _ClassVar[int]
    EWMA_LATENCY_FIELD_NUMBER: _ClassVar[int]
    LAST_SUCCESS_TIME_FIELD_NUMBER: _ClassVar[int]
    LAST_FAILURE_TIME_FIELD_NUMBER: _ClassVar[int]
    CONSECUTIVE_FAILURES_FIELD_NUMBER: _ClassVar[int]
    LAST_ERROR_TYPE_FIELD_NUMBER: _ClassVar[int]
    SUCCESS_COUNT_FIELD_NUMBER: _ClassVar[int]
    FAILURE_COUNT_FIELD_NUMBER: _ClassVar[int]
    BREAKER_RETRY_DELAY_FIELD_NUMBER: _ClassVar[int]
    LOCAL_FIELD_NUMBER: _ClassVar[int]
    ENABLED_SOURCE_FIELD_NUMBER: _ClassVar[int]
    DEPLOYMENT_FIELD_NUMBER: _ClassVar[int]
    DEPLOYMENTS_FIELD_NUMBER: _ClassVar[int]
    model: str
    provider: str
    enabled: bool
    breaker_state: BreakerState
    success_rate: float
    ewma_latency: _duration_pb2.Duration
    last_success_time: _timestamp_pb2.Timestamp
    last_failure_time: _timestamp_pb2.Timestamp
    consecutive_failures: int
    last_error_type: str
    success_count: int
    failure_count: int
    breaker_retry_delay: _duration_pb2.Duration
    local: bool
    enabled_source: ValueSource
    deployment: str
    deployments: _containers.RepeatedCompositeFieldContainer[ModelHealth]
    def __init__(self, model: _Optional[str] = ..., provider: _Optional[str] = ..., enabled: _Optional[bool] = ..., breaker_state: _Optional[_Union[BreakerState, str]] = ..., success_rate: _Optional[float] = ..., ewma_latency: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., last_success_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_failure_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., consecutive_failures: _Optional[int] = ..., last_error_type: _Optional[str] = ..., success_count: _Optional[int] = ..., failure_count: _Optional[int] = ..., breaker_retry_delay: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., local: _Optional[bool] = ..., enabled_source: _Optional[_Union[ValueSource, str]] = ..., deployment: _Optional[str] = ..., deployments: _Optional[_Iterable[_Union[ModelHealth, _Mapping]]] = ...) -> None: ...

class ListModelHealthRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListModelHealthResponse(_message.Message):
    __slots__ = ("models",)
    MODELS_FIELD_NUMBER: _ClassVar[int]
    models: _containers.RepeatedCompositeFieldContainer[ModelHealth]
    def __init__(self, models: _Optional[_Iterable[_Union[ModelHealth, _Mapping]]] = ...) -> None: ...

class SetModelEnabledRequest(_message.Message):
    __slots__ = ("model", "provider", "enabled")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    model: str
    provider: str
    enabled: bool
    def __init__(self, model: _Optional[str] = ..., provider: _Optional[str] = ..., enabled: _Optional[bool] = ...) -> None: ...

class SetModelEnabledResponse(_message.Message):
    __slots__ = ("models",)
    MODELS_FIELD_NUMBER: _ClassVar[int]
    models: _containers.RepeatedCompositeFieldContainer[ModelHealth]
    def __init__(self, models: _Optional[_Iterable[_Union[ModelHealth, _Mapping]]] = ...) -> None: ...

class ResetBreakerRequest(_message.Message):
    __slots__ = ("model",)
    MODEL_FIELD_NUMBER: _ClassVar[int]
    model: str
    def __init__(self, model: _Optional[str] = ...) -> None: ...

class ResetBreakerResponse(_message.Message):
    __slots__ = ("model",)
    MODEL_FIELD_NUMBER: _ClassVar[int]
    model: ModelHealth
    def __init__(self, model: _Optional[_Union[ModelHealth, _Mapping]] = ...) -> None: ...

class Category(_message.Message):
    __slots__ = ("name", "chain", "keywords", "source", "cache", "min_quality")
    NAME_FIELD_NUMBER: _ClassVar[int]
    CHAIN_FIELD_NUMBER: _ClassVar[int]
    KEYWORDS_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    CACHE_FIELD_NUMBER: _ClassVar[int]
    MIN_QUALITY_FIELD_NUMBER: _ClassVar[int]
    name: str
    chain: _containers.RepeatedScalarFieldContainer[str]
    keywords: _containers.RepeatedScalarFieldContainer[str]
    source: ValueSource
    cache: bool
    min_quality: float
    def __init__(self, name: _Optional[str] = ..., chain: _Optional[_Iterable[str]] = ..., keywords: _Optional[_Iterable[str]] = ..., source: _Optional[_Union[ValueSource, str]] = ..., cache: _Optional[bool] = ..., min_quality: _Optional[float] = ...) -> None: ...

class ListCategoriesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListCategoriesResponse(_message.Message):
    __slots__ = ("categories", "classification_mode")
    CATEGORIES_FIELD_NUMBER: _ClassVar[int]
    CLASSIFICATION_MODE_FIELD_NUMBER: _ClassVar[int]
    categories: _containers.RepeatedCompositeFieldContainer[Category]
    classification_mode: str
    def __init__(self, categories: _Optional[_Iterable[_Union[Category, _Mapping]]] = ..., classification_mode: _Optional[str] = ...) -> None: ...

class CreateCategoryRequest(_message.Message):
    __slots__ = ("category",)
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    category: Category
    def __init__(self, category: _Optional[_Union[Category, _Mapping]] = ...) -> None: ...

class CreateCategoryResponse(_message.Message):
    __slots__ = ("category",)
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    category: Category
    def __init__(self, category: _Optional[_Union[Category, _Mapping]] = ...) -> None: ...

class UpdateCategoryRequest(_message.Message):
    __slots__ = ("category",)
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    category: Category
    def __init__(self, category: _Optional[_Union[Category, _Mapping]] = ...) -> None: ...

class UpdateCategoryResponse(_message.Message):
    __slots__ = ("category",)
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    category: Category
    def __init__(self, category: _Optional[_Union[Category, _Mapping]] = ...) -> None: ...

class DeleteCategoryRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class DeleteCategoryResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class SetProviderBaseUrlRequest(_message.Message):
    __slots__ = ("provider", "base_url")
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    BASE_URL_FIELD_NUMBER: _ClassVar[int]
    provider: str
    base_url: str
    def __init__(self, provider: _Optional[str] = ..., base_url: _Optional[str] = ...) -> None: ...

class SetProviderBaseUrlResponse(_message.Message):
    __slots__ = ("provider", "base_url", "models", "base_url_source")
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    BASE_URL_FIELD_NUMBER: _ClassVar[int]
    MODELS_FIELD_NUMBER: _ClassVar[int]
    BASE_URL_SOURCE_FIELD_NUMBER: _ClassVar[int]
    provider: str
    base_url: str
    models: _containers.RepeatedCompositeFieldContainer[ModelHealth]
    base_url_source: ValueSource
    def __init__(self, provider: _Optional[str] = ..., base_url: _Optional[str] = ..., models: _Optional[_Iterable[_Union[ModelHealth, _Mapping]]] = ..., base_url_source: _Optional[_Union[ValueSource, str]] = ...) -> None: ...

class ListProvidersRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ProviderSettings(_message.Message):
    __slots__ = ("name", "kind", "base_url", "base_url_source", "local")
    NAME_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    BASE_URL_FIELD_NUMBER: _ClassVar[int]
    BASE_URL_SOURCE_FIELD_NUMBER: _ClassVar[int]
    LOCAL_FIELD_NUMBER: _ClassVar[int]
    name: str
    kind: str
    base_url: str
    base_url_source: ValueSource
    local: bool
    def __init__(self, name: _Optional[str] = ..., kind: _Optional[str] = ..., base_url: _Optional[str] = ..., base_url_source: _Optional[_Union[ValueSource, str]] = ..., local: _Optional[bool] = ...) -> None: ...

class ListProvidersResponse(_message.Message):
    __slots__ = ("providers",)
    PROVIDERS_FIELD_NUMBER: _ClassVar[int]
    providers: _containers.RepeatedCompositeFieldContainer[ProviderSettings]
    def __init__(self, providers: _Optional[_Iterable[_Union[ProviderSettings, _Mapping]]] = ...) -> None: ...

class ListAuditEventsRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class AuditEvent(_message.Message):
    __slots__ = ("id", "event_time", "actor", "api_key_id", "action", "target", "before", "after", "version")
    ID_FIELD_NUMBER: _ClassVar[int]
    EVENT_TIME_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    API_KEY_ID_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    BEFORE_FIELD_NUMBER: _ClassVar[int]
    AFTER_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    id: int
    event_time: _timestamp_pb2.Timestamp
    actor: str
    api_key_id: str
    action: str
    target: str
    before: _struct_pb2.Struct
    after: _struct_pb2.Struct
    version: int
    def __init__(self, id: _Optional[int] = ..., event_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., actor: _Optional[str] = ..., api_key_id: _Optional[str] = ..., action: _Optional[str] = ..., target: _Optional[str] = ..., before: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., after: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., version: _Optional[int] = ...) -> None: ...

class ListAuditEventsResponse(_message.Message):
    __slots__ = ("events", "next_page_token")
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[AuditEvent]
    next_page_token: str
    def __init__(self, events: _Optional[_Iterable[_Union[AuditEvent, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ListAlertsRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class Alert(_message.Message):
    __slots__ = ("id", "alert_id", "create_time", "kind", "scope", "subject", "threshold", "value", "message", "payload", "delivery_status", "delivery_attempts", "delivery_error", "delivered_time")
    ID_FIELD_NUMBER: _ClassVar[int]
    ALERT_ID_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    DELIVERY_STATUS_FIELD_NUMBER: _ClassVar[int]
    DELIVERY_ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    DELIVERY_ERROR_FIELD_NUMBER: _ClassVar[int]
    DELIVERED_TIME_FIELD_NUMBER: _ClassVar[int]
    id: int
    alert_id: str
    create_time: _timestamp_pb2.Timestamp
    kind: str
    scope: str
    subject: str
    threshold: float
    value: float
    message: str
    payload: _struct_pb2.Struct
    delivery_status: AlertDeliveryStatus
    delivery_attempts: int
    delivery_error: str
    delivered_time: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[int] = ..., alert_id: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., kind: _Optional[str] = ..., scope: _Optional[str] = ..., subject: _Optional[str] = ..., threshold: _Optional[float] = ..., value: _Optional[float] = ..., message: _Optional[str] = ..., payload: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., delivery_status: _Optional[_Union[AlertDeliveryStatus, str]] = ..., delivery_attempts: _Optional[int] = ..., delivery_error: _Optional[str] = ..., delivered_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListAlertsResponse(_message.Message):
    __slots__ = ("alerts", "next_page_token")
    ALERTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    alerts: _containers.RepeatedCompositeFieldContainer[Alert]
    next_page_token: str
    def __init__(self, alerts: _Optional[_Iterable[_Union[Alert, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ListBudgetsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class BudgetStatus(_message.Message):
    __slots__ = ("id", "scope", "subject", "period", "period_start_time", "period_end_time", "spent_usd", "reserved_usd", "remaining_usd", "hard_usd", "soft_usd", "local")
    ID_FIELD_NUMBER: _ClassVar[int]
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    PERIOD_FIELD_NUMBER: _ClassVar[int]
    PERIOD_START_TIME_FIELD_NUMBER: _ClassVar[int]
    PERIOD_END_TIME_FIELD_NUMBER: _ClassVar[int]
    SPENT_USD_FIELD_NUMBER: _ClassVar[int]
    RESERVED_USD_FIELD_NUMBER: _ClassVar[int]
    REMAINING_USD_FIELD_NUMBER: _ClassVar[int]
    HARD_USD_FIELD_NUMBER: _ClassVar[int]
    SOFT_USD_FIELD_NUMBER: _ClassVar[int]
    LOCAL_FIELD_NUMBER: _ClassVar[int]
    id: str
    scope: str
    subject: str
    period: str
    period_start_time: _timestamp_pb2.Timestamp
    period_end_time: _timestamp_pb2.Timestamp
    spent_usd: float
    reserved_usd: float
    remaining_usd: float
    hard_usd: float
    soft_usd: float
    local: bool
    def __init__(self, id: _Optional[str] = ..., scope: _Optional[str] = ..., subject: _Optional[str] = ..., period: _Optional[str] = ..., period_start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., period_end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., spent_usd: _Optional[float] = ..., reserved_usd: _Optional[float] = ..., remaining_usd: _Optional[float] = ..., hard_usd: _Optional[float] = ..., soft_usd: _Optional[float] = ..., local: _Optional[bool] = ...) -> None: ...

class ListBudgetsResponse(_message.Message):
    __slots__ = ("budgets",)
    BUDGETS_FIELD_NUMBER: _ClassVar[int]
    budgets: _containers.RepeatedCompositeFieldContainer[BudgetStatus]
    def __init__(self, budgets: _Optional[_Iterable[_Union[BudgetStatus, _Mapping]]] = ...) -> None: ...

class Budget(_message.Message):
    __slots__ = ("period", "rolling_window", "soft_usd", "hard_usd")
    PERIOD_FIELD_NUMBER: _ClassVar[int]
    ROLLING_WINDOW_FIELD_NUMBER: _ClassVar[int]
    SOFT_USD_FIELD_NUMBER: _ClassVar[int]
    HARD_USD_FIELD_NUMBER: _ClassVar[int]
    period: BudgetPeriod
    rolling_window: _duration_pb2.Duration
    soft_usd: float
    hard_usd: float
    def __init__(self, period: _Optional[_Union[BudgetPeriod, str]] = ..., rolling_window: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., soft_usd: _Optional[float] = ..., hard_usd: _Optional[float] = ...) -> None: ...

class ApiKey(_message.Message):
    __slots__ = ("id", "name", "team_id", "role", "allowed_models", "allowed_categories", "rpm_limit", "tpm_limit", "budgets", "create_time", "expire_time", "revoke_time", "rotate_time", "previous_secret_expire_time")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    TEAM_ID_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    ALLOWED_MODELS_FIELD_NUMBER: _ClassVar[int]
    ALLOWED_CATEGORIES_FIELD_NUMBER: _ClassVar[int]
    RPM_LIMIT_FIELD_NUMBER: _ClassVar[int]
    TPM_LIMIT_FIELD_NUMBER: _ClassVar[int]
    BUDGETS_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    REVOKE_TIME_FIELD_NUMBER: _ClassVar[int]
    ROTATE_TIME_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_SECRET_EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    team_id: str
    role: ApiKeyRole
    allowed_models: _containers.RepeatedScalarFieldContainer[str]
    allowed_categories: _containers.RepeatedScalarFieldContainer[str]
    rpm_limit: int
    tpm_limit: int
    budgets: _containers.RepeatedCompositeFieldContainer[Budget]
    create_time: _timestamp_pb2.Timestamp
    expire_time: _timestamp_pb2.Timestamp
    revoke_time: _timestamp_pb2.Timestamp
    rotate_time: _timestamp_pb2.Timestamp
    previous_secret_expire_time: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., team_id: _Optional[str] = ..., role: _Optional[_Union[ApiKeyRole, str]] = ..., allowed_models: _Optional[_Iterable[str]] = ..., allowed_categories: _Optional[_Iterable[str]] = ..., rpm_limit: _Optional[int] = ..., tpm_limit: _Optional[int] = ..., budgets: _Optional[_Iterable[_Union[Budget, _Mapping]]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., revoke_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., rotate_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., previous_secret_expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Team(_message.Message):
    __slots__ = ("id", "name", "budgets", "create_time")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    BUDGETS_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    budgets: _containers.RepeatedCompositeFieldContainer[Budget]
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., budgets: _Optional[_Iterable[_Union[Budget, _Mapping]]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreateApiKeyRequest(_message.Message):
    __slots__ = ("api_key",)
    API_KEY_FIELD_NUMBER: _ClassVar[int]
    api_key: ApiKey
    def __init__(self, api_key: _Optional[_Union[ApiKey, _Mapping]] = ...) -> None: ...

class CreateApiKeyResponse(_message.Message):
    __slots__ = ("api_key", "secret")
    API_KEY_FIELD_NUMBER: _ClassVar[int]
    SECRET_FIELD_NUMBER: _ClassVar[int]
    api_key: ApiKey
    secret: str
    def __init__(self, api_key: _Optional[_Union[ApiKey, _Mapping]] = ..., secret: _Optional[str] = ...) -> None: ...

class ListApiKeysRequest(_message.Message):
    __slots__ = ("team_id", "show_revoked")
    TEAM_ID_FIELD_NUMBER: _ClassVar[int]
    SHOW_REVOKED_FIELD_NUMBER: _ClassVar[int]
    team_id: str
    show_revoked: bool
    def __init__(self, team_id: _Optional[str] = ..., show_revoked: _Optional[bool] = ...) -> None: ...

class ListApiKeysResponse(_message.Message):
    __slots__ = ("api_keys",)
    API_KEYS_FIELD_NUMBER: _ClassVar[int]
    api_keys: _containers.RepeatedCompositeFieldContainer[ApiKey]
    def __init__(self, api_keys: _Optional[_Iterable[_Union[ApiKey, _Mapping]]] = ...) -> None: ...

class GetApiKeyRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class GetApiKeyResponse(_message.Message):
    __slots__ = ("api_key",)
    API_KEY_FIELD_NUMBER: _ClassVar[int]
    api_key: ApiKey
    def __init__(self, api_key: _Optional[_Union[ApiKey, _Mapping]] = ...) -> None: ...

class UpdateApiKeyRequest(_message.Message):
    __slots__ = ("api_key", "update_mask")
    API_KEY_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    api_key: ApiKey
    update_mask: _field_mask_pb2.FieldMask
    def __init__(self, api_key: _Optional[_Union[ApiKey, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class UpdateApiKeyResponse(_message.Message):
    __slots__ = ("api_key",)
    API_KEY_FIELD_NUMBER: _ClassVar[int]
    api_key: ApiKey
    def __init__(self, api_key: _Optional[_Union[ApiKey, _Mapping]] = ...) -> None: ...

class RotateApiKeyRequest(_message.Message):
    __slots__ = ("id", "overlap")
    ID_FIELD_NUMBER: _ClassVar[int]
    OVERLAP_FIELD_NUMBER: _ClassVar[int]
    id: str
    overlap: _duration_pb2.Duration
    def __init__(self, id: _Optional[str] = ..., overlap: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class RotateApiKeyResponse(_message.Message):
    __slots__ = ("api_key", "secret")
    API_KEY_FIELD_NUMBER: _ClassVar[int]
    SECRET_FIELD_NUMBER: _ClassVar[int]
    api_key: ApiKey
    secret: str
    def __init__(self, api_key: _Optional[_Union[ApiKey, _Mapping]] = ..., secret: _Optional[str] = ...) -> None: ...

class RevokeApiKeyRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class RevokeApiKeyResponse(_message.Message):
    __slots__ = ("api_key",)
    API_KEY_FIELD_NUMBER: _ClassVar[int]
    api_key: ApiKey
    def __init__(self, api_key: _Optional[_Union[ApiKey, _Mapping]] = ...) -> None: ...

class CreateTeamRequest(_message.Message):
    __slots__ = ("team",)
    TEAM_FIELD_NUMBER: _ClassVar[int]
    team: Team
    def __init__(self, team: _Optional[_Union[Team, _Mapping]] = ...) -> None: ...

class CreateTeamResponse(_message.Message):
    __slots__ = ("team",)
    TEAM_FIELD_NUMBER: _ClassVar[int]
    team: Team
    def __init__(self, team: _Optional[_Union[Team, _Mapping]] = ...) -> None: ...

class ListTeamsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListTeamsResponse(_message.Message):
    __slots__ = ("teams",)
    TEAMS_FIELD_NUMBER: _ClassVar[int]
    teams: _containers.RepeatedCompositeFieldContainer[Team]
    def __init__(self, teams: _Optional[_Iterable[_Union[Team, _Mapping]]] = ...) -> None: ...

class UpdateTeamRequest(_message.Message):
    __slots__ = ("team", "update_mask")
    TEAM_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    team: Team
    update_mask: _field_mask_pb2.FieldMask
    def __init__(self, team: _Optional[_Union[Team, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class UpdateTeamResponse(_message.Message):
    __slots__ = ("team",)
    TEAM_FIELD_NUMBER: _ClassVar[int]
    team: Team
    def __init__(self, team: _Optional[_Union[Team, _Mapping]] = ...) -> None: ...

class ListApiKeyDigestsRequest(_message.Message):
    __slots__ = ("known_version",)
    KNOWN_VERSION_FIELD_NUMBER: _ClassVar[int]
    known_version: int
    def __init__(self, known_version: _Optional[int] = ...) -> None: ...

class ApiKeyDigest(_message.Message):
    __slots__ = ("sha256", "api_key_id", "team_id", "role", "allowed_models", "rpm_limit", "tpm_limit", "expire_time")
    SHA256_FIELD_NUMBER: _ClassVar[int]
    API_KEY_ID_FIELD_NUMBER: _ClassVar[int]
    TEAM_ID_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    ALLOWED_MODELS_FIELD_NUMBER: _ClassVar[int]
    RPM_LIMIT_FIELD_NUMBER: _ClassVar[int]
    TPM_LIMIT_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    sha256: bytes
    api_key_id: str
    team_id: str
    role: ApiKeyRole
    allowed_models: _containers.RepeatedScalarFieldContainer[str]
    rpm_limit: int
    tpm_limit: int
    expire_time: _timestamp_pb2.Timestamp
    def __init__(self, sha256: _Optional[bytes] = ..., api_key_id: _Optional[str] = ..., team_id: _Optional[str] = ..., role: _Optional[_Union[ApiKeyRole, str]] = ..., allowed_models: _Optional[_Iterable[str]] = ..., rpm_limit: _Optional[int] = ..., tpm_limit: _Optional[int] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListApiKeyDigestsResponse(_message.Message):
    __slots__ = ("version", "unchanged", "api_keys")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    UNCHANGED_FIELD_NUMBER: _ClassVar[int]
    API_KEYS_FIELD_NUMBER: _ClassVar[int]
    version: int
    unchanged: bool
    api_keys: _containers.RepeatedCompositeFieldContainer[ApiKeyDigest]
    def __init__(self, version: _Optional[int] = ..., unchanged: _Optional[bool] = ..., api_keys: _Optional[_Iterable[_Union[ApiKeyDigest, _Mapping]]] = ...) -> None: ...

class ListQualityEstimatesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class QualityEstimate(_message.Message):
    __slots__ = ("model", "category", "prior", "prior_weight", "samples", "observed_mean", "estimate", "lower", "upper", "in_use", "user_samples", "judge_samples")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    PRIOR_FIELD_NUMBER: _ClassVar[int]
    PRIOR_WEIGHT_FIELD_NUMBER: _ClassVar[int]
    SAMPLES_FIELD_NUMBER: _ClassVar[int]
    OBSERVED_MEAN_FIELD_NUMBER: _ClassVar[int]
    ESTIMATE_FIELD_NUMBER: _ClassVar[int]
    LOWER_FIELD_NUMBER: _ClassVar[int]
    UPPER_FIELD_NUMBER: _ClassVar[int]
    IN_USE_FIELD_NUMBER: _ClassVar[int]
    USER_SAMPLES_FIELD_NUMBER: _ClassVar[int]
    JUDGE_SAMPLES_FIELD_NUMBER: _ClassVar[int]
    model: str
    category: str
    prior: float
    prior_weight: float
    samples: int
    observed_mean: float
    estimate: float
    lower: float
    upper: float
    in_use: bool
    user_samples: int
    judge_samples: int
    def __init__(self, model: _Optional[str] = ..., category: _Optional[str] = ..., prior: _Optional[float] = ..., prior_weight: _Optional[float] = ..., samples: _Optional[int] = ..., observed_mean: _Optional[float] = ..., estimate: _Optional[float] = ..., lower: _Optional[float] = ..., upper: _Optional[float] = ..., in_use: _Optional[bool] = ..., user_samples: _Optional[int] = ..., judge_samples: _Optional[int] = ...) -> None: ...

class ListQualityEstimatesResponse(_message.Message):
    __slots__ = ("estimates", "min_samples")
    ESTIMATES_FIELD_NUMBER: _ClassVar[int]
    MIN_SAMPLES_FIELD_NUMBER: _ClassVar[int]
    estimates: _containers.RepeatedCompositeFieldContainer[QualityEstimate]
    min_samples: int
    def __init__(self, estimates: _Optional[_Iterable[_Union[QualityEstimate, _Mapping]]] = ..., min_samples: _Optional[int] = ...) -> None: ...

class RunEvaluationRequest(_message.Message):
    __slots__ = ("limit",)
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    limit: int
    def __init__(self, limit: _Optional[int] = ...) -> None: ...

class RunEvaluationResponse(_message.Message):
    __slots__ = ("graded_count", "failed_count", "pending_count", "judge_cost_usd")
    GRADED_COUNT_FIELD_NUMBER: _ClassVar[int]
    FAILED_COUNT_FIELD_NUMBER: _ClassVar[int]
    PENDING_COUNT_FIELD_NUMBER: _ClassVar[int]
    JUDGE_COST_USD_FIELD_NUMBER: _ClassVar[int]
    graded_count: int
    failed_count: int
    pending_count: int
    judge_cost_usd: float
    def __init__(self, graded_count: _Optional[int] = ..., failed_count: _Optional[int] = ..., pending_count: _Optional[int] = ..., judge_cost_usd: _Optional[float] = ...) -> None: ...

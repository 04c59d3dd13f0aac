# One image for all three services; docker-compose.yml picks the service with its command.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY protos ./protos
COPY llmrouter ./llmrouter
COPY router_svc ./router_svc
COPY metrics_svc ./metrics_svc
COPY gateway ./gateway
RUN pip install --no-cache-dir . && mkdir -p /data
ENV PYTHONUNBUFFERED=1
ENTRYPOINT ["llmrouter"]

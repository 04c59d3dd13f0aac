# One image for all three services; docker-compose.yml picks the service with its command.
FROM python:3.11-slim
WORKDIR /app
# Exactly the runtime set of requirements/runtime.txt, each file checked against its hash;
# then the project alone, built by the pinned setuptools (no build isolation: nothing is
# fetched that the lock does not name). Rebuilt from this layer only when the lock changes.
COPY requirements/runtime.txt ./requirements/
RUN pip install --no-cache-dir --require-hashes -r requirements/runtime.txt
COPY pyproject.toml README.md LICENSE ./
COPY protos ./protos
COPY llmrouter ./llmrouter
COPY router_svc ./router_svc
COPY metrics_svc ./metrics_svc
COPY gateway ./gateway
RUN pip install --no-cache-dir --no-deps --no-build-isolation . && pip check && mkdir -p /data
ENV PYTHONUNBUFFERED=1
ENTRYPOINT ["llmrouter"]

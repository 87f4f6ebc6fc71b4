FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY registry registry
COPY workers workers
COPY migrations migrations
RUN pip install --no-cache-dir . gunicorn
ENV TF_CPP_MIN_LOG_LEVEL=2

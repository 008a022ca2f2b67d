# Image for the arledger API, Celery worker and migrations (see compose.yaml).
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Only what the package needs: no .venv, .dev or tests in the build context copy.
COPY pyproject.toml README.md ./
COPY arledger ./arledger
COPY api ./api
COPY domain ./domain
COPY workers ./workers

RUN pip install . \
    && useradd --create-home --uid 10001 --shell /usr/sbin/nologin arledger

USER arledger
EXPOSE 8000
CMD ["arledger", "api", "--host", "0.0.0.0", "--port", "8000"]

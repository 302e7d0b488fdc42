FROM python:3.11-slim

WORKDIR /app
COPY pyproject.toml README.md ./
COPY bifrost_py ./bifrost_py
RUN pip install --no-cache-dir . && useradd --create-home --uid 10001 bifrost \
    && mkdir /data && chown bifrost /data

USER bifrost
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/health')"
# uvicorn turns SIGTERM into a graceful shutdown: requests in flight finish, the store closes.
ENTRYPOINT ["bifrost-py", "serve", "--host", "0.0.0.0", "--port", "8080", "--data-dir", "/data"]

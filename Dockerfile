# Screener service image: `docker build -t screener .`
# Runs `screener run` as an unprivileged user; settings come from SCREENER_* variables.

FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml setup.py README.md ./
COPY screener ./screener
COPY migrations ./migrations
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    SCREENER_DATABASE__URL=sqlite+aiosqlite:////var/lib/screener/screener.db \
    SCREENER_ARI__RECORDINGS_DIR=/var/lib/screener/recordings \
    SCREENER_WEB__HOST=0.0.0.0 \
    SCREENER_WEB__PORT=8080 \
    SCREENER_AGI__HOST=0.0.0.0 \
    SCREENER_AGI__PORT=4573 \
    SCREENER_LOGGING__JSON_FORMAT=true
# uid/gid 10001 is shared with the Asterisk image so both can use the recordings volume.
RUN groupadd --system --gid 10001 screener \
 && useradd --system --uid 10001 --gid screener --home-dir /var/lib/screener \
      --shell /usr/sbin/nologin screener \
 && mkdir -p /var/lib/screener/recordings \
 && chown -R screener:screener /var/lib/screener
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links=/wheels screener \
 && rm -rf /wheels
USER screener
WORKDIR /var/lib/screener
VOLUME ["/var/lib/screener/recordings"]
EXPOSE 8080 4573
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4)"]
ENTRYPOINT ["screener"]
CMD ["run"]

# The september watcher: astrometry.net with the Tycho-2 index files, and september itself.
FROM python:3.11-slim-bookworm
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      astrometry.net astrometry-data-tycho2-10-19 postgresql-client \
 && rm -rf /var/lib/apt/lists/*
RUN useradd --system --create-home --home-dir /var/lib/september september
WORKDIR /opt/september
COPY pyproject.toml README.md alembic.ini ./
COPY september ./september
COPY migrations ./migrations
RUN pip install --no-cache-dir -e .
USER september
ENV SEPTEMBER_DATA_DIR=/var/lib/september \
    SEPTEMBER_SHARE=/share \
    SEPTEMBER_INDEX_DIR=/usr/share/astrometry
ENTRYPOINT ["september"]
CMD ["watch", "/share"]

# The code location as a gRPC code server, for a Dagster deployment whose webserver and daemon
# run elsewhere (they read the top-level dagster.yaml: PostgreSQL, queued runs).
FROM python:3.11-slim

RUN apt-get update \
 && apt-get install -y --no-install-recommends tesseract-ocr \
 && rm -rf /var/lib/apt/lists/*

RUN useradd --create-home --uid 10001 kyc && mkdir -p /data /opt/dagster && chown kyc /data /opt/dagster

WORKDIR /app
COPY pyproject.toml README.md ./
COPY kyc_assets ./kyc_assets
RUN pip install --no-cache-dir .
COPY dagster.yaml /opt/dagster/dagster.yaml

USER kyc
# Tesseract is ~5x faster single-threaded on small machines; KYC_HOME holds documents and the warehouse.
ENV DAGSTER_HOME=/opt/dagster KYC_HOME=/data OMP_THREAD_LIMIT=1 KYC_DEPLOYMENT=production
EXPOSE 4000
CMD ["dagster", "code-server", "start", "-h", "0.0.0.0", "-p", "4000", "-m", "kyc_assets.definitions"]

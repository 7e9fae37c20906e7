# The code location as a gRPC code server, for a Dagster deployment whose webserver and daemon
# run elsewhere (they read the top-level dagster.yaml: PostgreSQL, queued runs). The same image runs the
# webserver, the daemon, Celery workers (`kyc worker --queues ocr`) and Kubernetes run/step Jobs:
# see kyc_assets/deploy/ (compose, Helm values) and README "Deploying".
FROM python:3.11-slim

RUN apt-get update \
 && apt-get install -y --no-install-recommends tesseract-ocr libgl1 libglib2.0-0 libicu72 \
 && rm -rf /var/lib/apt/lists/*

RUN useradd --create-home --uid 10001 kyc && mkdir -p /data /opt/dagster && chown kyc /data /opt/dagster

WORKDIR /app
COPY pyproject.toml README.md ./
COPY kyc_assets ./kyc_assets
# PyICU (screening transliteration) builds against the system ICU: headers and compiler only for the
# build, removed afterwards. libgl1/libglib2.0-0: OpenCV, pulled in by rapidocr (MRZ band reading).
RUN apt-get update \
 && apt-get install -y --no-install-recommends libicu-dev pkg-config g++ \
 && pip install --no-cache-dir '.[k8s]' \
 && apt-get purge -y libicu-dev pkg-config g++ && apt-get autoremove -y && rm -rf /var/lib/apt/lists/*
COPY dagster.yaml /opt/dagster/dagster.yaml

USER kyc
# Tesseract is ~5x faster single-threaded on small machines; KYC_HOME holds documents and the warehouse.
ENV DAGSTER_HOME=/opt/dagster KYC_HOME=/data OMP_THREAD_LIMIT=1 KYC_DEPLOYMENT=production
EXPOSE 4000
CMD ["dagster", "code-server", "start", "-h", "0.0.0.0", "-p", "4000", "-m", "kyc_assets.definitions"]

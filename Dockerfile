# One image for every role in docker-compose.yml: the ASGI web server (bin/serve), the Celery
# worker, Celery beat and the one-shot migration.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# OpenCV's wheel needs GLib's runtime even headless; the check-in cards' PDF uses DejaVu Sans
# (names in any Latin, Greek or Cyrillic script).
RUN apt-get update \
    && apt-get install -y --no-install-recommends libglib2.0-0 fonts-dejavu-core \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 1000 app

WORKDIR /app

# PyTorch's CPU-only wheels: the default ones pull several GB of CUDA libraries a CPU server never uses.
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
COPY requirements.txt requirements-facenet.txt ./
# facenet-pytorch last and without its dependencies: its metadata pins torch<2.3, numpy<2 and
# Pillow<10.3, which requirements.txt deliberately overrides (README, "Dependencies").
RUN pip install --extra-index-url "$TORCH_INDEX_URL" -r requirements.txt \
    && pip install --no-deps -r requirements-facenet.txt

COPY . .

# Static files are hashed and compressed into the image (not a volume, so an upgrade replaces
# them); photos and the SQLite fallback live under /data.
ENV DATA_DIR=/data \
    MEDIA_ROOT=/data/media \
    STATIC_ROOT=/app/staticfiles \
    HOST=0.0.0.0 \
    PORT=8000
RUN DJANGO_SECRET_KEY=collectstatic-only-not-a-secret DJANGO_STATIC_MANIFEST=true \
        python manage.py collectstatic --noinput \
    && mkdir -p /data/media \
    && chown -R app:app /data

USER app
EXPOSE 8000
CMD ["bin/serve"]

# Production image: one image for web, worker and beat (docker-compose.yml picks the command).
FROM python:3.11-slim

# PYTHONPATH: settings find templates/ and static/ next to the code, so the code is imported
# from /app rather than from the copy `pip install .` puts in site-packages (no templates).
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONPATH=/app \
    TASKMANAGE_VAR_DIR=/app/var \
    DEBUG=0 \
    PORT=8000

RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin taskmanage

WORKDIR /app
COPY pyproject.toml README.md ./
COPY taskmanage ./taskmanage
COPY apps ./apps
# The Python client too: the reference execution unit runs on it.
COPY clients/python ./clients/python
RUN pip install ./clients/python .

COPY manage.py ./
COPY templates ./templates
COPY static ./static
# collectstatic needs settings to load, and settings refuse to load without a SECRET_KEY when
# DEBUG is off. This throwaway key exists only for this one command: it is not an ENV or ARG,
# so it is not in the image's environment; containers get their key from docker-compose.
RUN SECRET_KEY=collectstatic-build-only python manage.py collectstatic --noinput -v0 \
    && chown -R taskmanage:taskmanage /app/var

USER taskmanage
EXPOSE 8000
CMD ["python", "manage.py", "serve", "--host=0.0.0.0", "--port=8000"]

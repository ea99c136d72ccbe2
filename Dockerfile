# globaldns image: `docker build -t <registry>/globaldns:<version> .`
# The build stage installs the project from its own metadata (pyproject.toml, setup.py for the
# compiled UDP loop) into a venv; it is the full python:3.11 image because that one has a C
# compiler. The runtime stage, slim on the same Debian and Python, carries only that venv and
# runs it as a fixed non-root user.
FROM python:3.11 AS build
ARG VENV=/opt/globaldns
WORKDIR /src
COPY pyproject.toml setup.py README.md ./
COPY manifests ./manifests
COPY globaldns ./globaldns
RUN python -m venv "$VENV" && "$VENV/bin/pip" install --disable-pip-version-check ".[fast]"

FROM python:3.11-slim
ARG VENV=/opt/globaldns
COPY --from=build $VENV $VENV
ENV PATH="$VENV/bin:$PATH" \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
USER 10001:10001
# DNS on 5353 (no capability needed as non-root; the Service maps 53 to it), admin HTTP on 9153.
EXPOSE 5353/udp 5353/tcp 9153/tcp
ENTRYPOINT ["globaldns"]
CMD ["serve", "--listen", "0.0.0.0:5353", "--admin", "0.0.0.0:9153"]

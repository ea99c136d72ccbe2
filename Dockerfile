# globaldns image: `docker build -t <registry>/globaldns:<version> .`
# Both stages are Python 3.11 on Debian 12 (bookworm), so the venv built in the first runs in the
# second. The build stage is the full image because it has the C compiler for the compiled UDP
# loop. Every dependency, and the build backend (setuptools), comes from requirements.lock,
# pinned with hashes (`--require-hashes`: a changed, unpinned or unhashed file fails the build),
# as wheels only (an sdist would build with unhashed build dependencies); then globaldns itself
# is built from its own metadata without build isolation, so with that locked setuptools, which
# leaves the venv afterwards. The venv never has pip. The runtime stage carries only that venv,
# has the base image's pip removed, and runs as a fixed non-root user.
# Regenerate the lock after changing dependencies (see README, "Container image"):
#   PIP_CONFIG_FILE=/dev/null pip-compile --all-build-deps --allow-unsafe --extra=fast \
#     --generate-hashes --strip-extras --output-file=requirements.lock pyproject.toml
FROM python:3.11-bookworm AS build
ARG VENV=/opt/globaldns
WORKDIR /src
COPY requirements.lock pyproject.toml setup.py README.md ./
COPY manifests ./manifests
COPY globaldns ./globaldns
RUN python -m venv --without-pip "$VENV" \
    && python -m pip --python "$VENV/bin/python" install --disable-pip-version-check \
        --no-cache-dir --require-hashes --only-binary :all: --no-deps -r requirements.lock \
    && python -m pip --python "$VENV/bin/python" install --disable-pip-version-check \
        --no-cache-dir --no-build-isolation --no-deps . \
    && python -m pip --python "$VENV/bin/python" uninstall --disable-pip-version-check \
        --yes setuptools

FROM python:3.11-slim-bookworm
ARG VENV=/opt/globaldns
# No pip in the image (nor ensurepip's copy of it): what runs here can install nothing.
RUN rm -rf /usr/local/bin/pip /usr/local/bin/pip3 /usr/local/bin/pip3.11 \
    /usr/local/lib/python3.11/site-packages/pip \
    /usr/local/lib/python3.11/site-packages/pip-*.dist-info \
    /usr/local/lib/python3.11/ensurepip
COPY --from=build $VENV $VENV
ENV PATH="$VENV/bin:$PATH" \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
USER 10001:10001
# DNS on 5353 (no capability needed as non-root; the Service maps 53 to it), admin HTTP on 9153,
# both on [::]: dual stack, IPv4 and IPv6 clients alike.
EXPOSE 5353/udp 5353/tcp 9153/tcp
ENTRYPOINT ["globaldns"]
CMD ["serve", "--listen", "[::]:5353", "--admin", "[::]:9153"]

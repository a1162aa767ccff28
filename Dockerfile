# sessionmesh node image: Debian 12, built from this checkout with Debian's
# own packages (scripts/setup.sh), run as a non-root user.
#
#   docker build -t sessionmesh .
#   docker run -p 7070:7070 -v sm-data:/var/lib/sessionmesh sessionmesh
#
# The runtime packages below are the shared libraries the release binary
# links (tests/ops checks this list against `ldd` of the built binary).

FROM debian:12 AS build
WORKDIR /src
COPY . .
RUN ./scripts/setup.sh \
 && rm -rf build-release \
 && meson setup build-release --buildtype=release -Db_ndebug=false --prefix=/usr --sysconfdir=/etc \
 && ninja -C build-release sessionmesh examples/sessionmesh.toml \
 && install -D build-release/sessionmesh /out/usr/bin/sessionmesh \
 && install -D -m 0644 build-release/examples/sessionmesh.toml /out/etc/sessionmesh/sessionmesh.toml

FROM debian:12-slim
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libabsl20220623 libfmt9 libsimdjson14 libspdlog1.10 libssl3 libtomlplusplus3 libxxhash0 \
      ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --home-dir /var/lib/sessionmesh --create-home --uid 10001 sessionmesh
COPY --from=build /out/usr/bin/sessionmesh /usr/bin/sessionmesh
COPY --from=build /out/etc/sessionmesh/sessionmesh.toml /etc/sessionmesh/sessionmesh.toml
USER 10001:10001
WORKDIR /var/lib/sessionmesh
VOLUME ["/var/lib/sessionmesh"]
EXPOSE 7070 7946
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD curl -fsS http://127.0.0.1:7070/healthz || exit 1
# SIGTERM drains (hands every change to a peer) before exiting: give the
# container runtime's stop timeout at least 15 s (docker stop -t 30).
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/bin/sessionmesh"]
CMD ["serve", "--config=/etc/sessionmesh/sessionmesh.toml", "--http=0.0.0.0:7070", "--data-dir=/var/lib/sessionmesh"]

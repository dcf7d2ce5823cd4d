# items-api runtime image: only the binary, the shared libraries it links
# (from Debian 12 packages), the CA bundle, /etc/passwd and /etc/group.
# No shell, no package manager; runs as the numeric user 10001.
#
# The root filesystem is assembled first, from Debian packages, by
# image/assemble-rootfs.sh (no base image is pulled: the same recipe works
# where no registry can be reached):
#
#   make image        here: assemble + podman (or docker) build -> items-api:dev
#   CI                a debian:12 container assembles, then docker build
#
# Run it read-only; the only writable place is the volume /var/lib/items-api
# (SQLite, the default database: sqlite:var/items.db relative to the working
# directory, i.e. /var/lib/items-api/var/items.db). Production passes
# DATABASE_URL_FILE and API_KEYS_FILE instead (see infrastructure/modules/user_data).
# DATABASE_URL is deliberately not set here: the service refuses
# DATABASE_URL and DATABASE_URL_FILE together.
FROM scratch

ARG VERSION=dev
ARG REVISION=unknown
ARG SOURCE=https://github.com/example/items-api
ARG CREATED=1970-01-01T00:00:00Z

LABEL org.opencontainers.image.title="items-api" \
      org.opencontainers.image.description="items-api: JSON API for items (C, PostgreSQL or SQLite)" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.url="${SOURCE}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.base.name="scratch"

COPY build/image/rootfs/ /
# COPY makes everything root's, whoever owns build/image on disk (CI: the
# runner user); the data directory (the volume) belongs to the service user.
# /var/lib is in the rootfs (root's), so --chown reaches only items-api/.
COPY --chown=10001:10001 build/image/rootfs.data/ /var/lib/items-api/

USER 10001:10001
WORKDIR /var/lib/items-api
VOLUME ["/var/lib/items-api"]
ENV PORT=8080
EXPOSE 8080
STOPSIGNAL SIGTERM
# /healthz answers 200 while the process runs (no database access): the
# container is alive. Readiness (/readyz) is the load balancer's business.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD ["/usr/local/bin/items-api", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/items-api"]
CMD ["serve"]

# The container image (issue 5): Dockerfile + image/ (rootfs from Debian
# packages, FROM scratch), built and run here with podman, with docker where a
# daemon answers (image/engine.sh decides; IMAGE_ENGINE=podman|docker forces).
#
#   make image          build/items-api -> build/image/rootfs -> items-api:dev
#   make test-image     make image, then run it on SQLite and PostgreSQL (tests/image/run.sh)
#   image/engine.sh ... the configured engine, e.g. image/engine.sh run --rm items-api:dev --help

IMAGE_TAG ?= items-api:dev

.PHONY: image image-rootfs test-image
TEST_TARGETS += test-image

image-rootfs: ## assemble the image's root filesystem from Debian packages (build/image/rootfs)
	@tools/deps.sh build image
	@$(MAKE) --no-print-directory build/items-api
	@image/assemble-rootfs.sh build/items-api build/image/rootfs

image: image-rootfs ## build the container image items-api:dev (podman, or docker where a daemon runs)
	@image/build.sh $(IMAGE_TAG)

test-image: image ## build the image and run it: SQLite volume, PostgreSQL, read-only, non-root, clean stop
	@tools/deps.sh test
	@tests/image/run.sh $(IMAGE_TAG)

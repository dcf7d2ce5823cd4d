"""Where things are: the repository, the binaries under test, scratch space."""

import os
import tempfile

REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", ".."))

# The binaries under test; ITEMS_API_BIN / ITEMS_API_TEST_BIN name others
# (relative to the repository root), e.g. a build of another revision.
RELEASE_BIN = os.path.join(REPO, os.environ.get("ITEMS_API_BIN") or "build/items-api")
TEST_BIN = os.path.join(REPO, os.environ.get("ITEMS_API_TEST_BIN") or "build/test/items-api")

_state_dir = None


def state_dir():
    """Scratch space for service logs and cleanup records: FAULTS_STATE_DIR
    (tests/faults/run.sh's trap reads the pids and nft-tables files there),
    else a fresh temporary directory, made on first use."""
    global _state_dir
    if _state_dir is None:
        _state_dir = os.environ.get("FAULTS_STATE_DIR") or tempfile.mkdtemp(prefix="itemstest-")
        os.makedirs(_state_dir, exist_ok=True)
    return _state_dir

#!/bin/sh
# The long run of hardening item 18: schemathesis against every operation qasid serves, driven by
# the Matrix spec's OpenAPI document, with many examples per operation and the coverage phase.
# CI runs the same test with 3 examples and no coverage phase (tests/hardening/test_spec_fuzz.py).
#   scripts/fuzz_spec.sh                 # 200 examples per operation
#   scripts/fuzz_spec.sh 1000 -x         # more; further arguments go to pytest
set -eu
cd "$(dirname "$0")/.."
examples="${1:-200}"
[ "$#" -gt 0 ] && shift
QASID_FUZZ_EXAMPLES="$examples" QASID_FUZZ_PHASES="examples,coverage,fuzzing" \
    exec .venv/bin/python -m pytest -q -p no:cacheprovider tests/hardening/test_spec_fuzz.py "$@"

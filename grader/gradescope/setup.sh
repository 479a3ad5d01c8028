#!/usr/bin/env bash
# Gradescope runs this once, as root, on its Ubuntu image (22.04 or later: the grader needs
# Python >= 3.10), from the unpacked bundle in /autograder/source. It installs python3 and
# venv, bubblewrap when apt has it (the sandbox; without it, or where Docker forbids its
# namespaces, the grader falls back to rlimits and every result says so), and the grader
# from the source copy in grader-src/ with its dependencies (torch's CPU wheel first, then
# nbclient, ipykernel, ... from pyproject.toml), as scripts/install.sh does for a checkout.
# AUTOGRADER_ROOT overrides /autograder.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="${AUTOGRADER_ROOT:-/autograder}"
VENV="$ROOT/grader-venv"
# GRADER_RUBRIC: the rubric's path inside the bundle
. "$HERE/bundle.env"

if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq python3 python3-venv python3-pip >/dev/null
  apt-get install -y -qq bubblewrap >/dev/null \
    || echo "setup.sh: bubblewrap could not be installed; the grader will use weaker isolation and say so" >&2
fi
python3 -c 'import sys; sys.exit(sys.version_info < (3, 10))' \
  || { echo "setup.sh: the grader needs Python >= 3.10; choose Ubuntu 22.04 or later as the base image" >&2; exit 1; }

python3 -m venv "$VENV"
"$VENV/bin/pip" install -q --upgrade pip
# torch's CPU wheel: the default index's build of the same version pulls several GB of CUDA packages
"$VENV/bin/pip" install -q "torch>=2.2,<2.14" --index-url https://download.pytorch.org/whl/cpu
"$VENV/bin/pip" install -q "$HERE/grader-src"
ln -sf "$VENV/bin/grader" /usr/local/bin/grader 2>/dev/null || true

# the students' Python environment, when the rubric declares one (what the course's Colab had)
if grep -q '^environment:' "$HERE/$GRADER_RUBRIC/assignment.yaml" 2>/dev/null; then
  "$VENV/bin/grader" env build "$HERE/$GRADER_RUBRIC" \
    || echo "setup.sh: could not build the rubric's student environment; notebooks will run in the grader's own" >&2
fi
# the rubric loads, and which isolation this image gives
"$VENV/bin/grader" rubric-check "$HERE/$GRADER_RUBRIC"

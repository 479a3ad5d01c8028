#!/usr/bin/env bash
# Installs everything the grader needs on a fresh Debian machine, idempotently:
# bubblewrap (the sandbox) from Debian, and a virtualenv in .venv with the project.
set -euo pipefail
cd "$(dirname "$0")/.."
# apt_install PACKAGE CONSEQUENCE: install a Debian package when root with apt-get; else say
# what running without it costs (never fatal: the grader says the same in its reports).
apt_install() {
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$1") >/dev/null \
      || echo "install.sh: could not install $1; $2" >&2
  else
    echo "install.sh: $1 missing and not root: $2" >&2
  fi
}
command -v bwrap >/dev/null 2>&1 || apt_install bubblewrap "the grader will run with weaker isolation"
# Debian's chromium for the review page's browser tests (tests/review; Playwright drives it,
# it downloads no browser). Without it those tests are skipped.
command -v chromium >/dev/null 2>&1 || apt_install chromium "the review page's browser tests will be skipped"
PY=${PYTHON:-python3}
# A stock Debian 12 python3 has no venv/ensurepip until python3-venv is installed.
if [ ! -x .venv/bin/python ] && ! "$PY" -c "import ensurepip, venv" >/dev/null 2>&1; then
  apt_install python3-venv "creating .venv will fail"
fi
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
# torch first: the machine's local CPU wheel when there is one (an index build of the same
# version would pull several GB of CUDA packages), else a capped version from the index.
# (A local "+cpu" build sorts above the index's build of the same version, so pip takes it.)
.venv/bin/pip install -q "torch>=2.2,<2.14"
.venv/bin/pip install -q -e ".[dev]"
# The students' Python environments the shipped rubrics declare (`environment:` in their
# assignment.yaml: what the course's Colab had), each its own virtualenv, built once and
# cached by its spec under ~/.cache/dl-grader/envs. Without one, a rubric's notebooks run in
# the grader's own environment and every report says so.
for rubric in rubrics/*/; do
  if grep -q '^environment:' "$rubric/assignment.yaml" 2>/dev/null; then
    .venv/bin/grader env build "$rubric" \
      || echo "install.sh: could not build the student environment of $rubric (see above)" >&2
  fi
done

#!/usr/bin/env bash
# The accuracy–speedup study from a checkout: run.sh {dense,power-bert,lat,acc,render,rerender} ... (see README.md).
# acc_study is not installed with acc-deploy, so this puts its folder on PYTHONPATH and runs it as a module.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export PYTHONPATH="$here${PYTHONPATH:+:$PYTHONPATH}"
exec "${PYTHON:-python}" -m acc_study "$@"

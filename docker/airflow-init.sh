#!/usr/bin/env bash
# The compose init service (docker-compose.yml airflow-init), after Airflow's own compose file: a one-shot that
# every Airflow component waits for. It starts as root with CHOWN/DAC_OVERRIDE/FOWNER/SETUID/SETGID only:
#   1. hss-init-checks: refuse placeholder secrets; hand folders Docker created as root to AIRFLOW_UID:0; create
#      the data root's folders (contracts.data_layout); move layout-1 song results to results/songs/ (as
#      AIRFLOW_UID) (docker/init_checks.py);
#   2. as AIRFLOW_UID:0 from here on (setpriv): seed the Git DAG repository from airflow/dags when it is missing
#      (an existing one is left alone: `make dags-deploy` owns its history), migrate the metadata DB, import the
#      pools, write SimpleAuthManager's passwords file.
# Idempotent: the local stacks run the same steps (stack start-up: dag_repo.py, airflow_stack.py init_commands).
set -euo pipefail

if [ -z "${HSS_INIT_DROPPED:-}" ]; then
  hss-init-checks
  # setuid to a non-zero uid clears every capability; the rest runs as the containers' user does.
  exec setpriv --reuid="${AIRFLOW_UID:-50000}" --regid=0 --clear-groups -- \
    env HSS_INIT_DROPPED=1 HOME=/opt/airflow "$0" "$@"
fi

repo=/opt/airflow/dags-repo
source_dir=/opt/hss/dags-source  # the checkout's airflow/dags, mounted read-only
[ -n "$(ls -A "$source_dir" 2>/dev/null)" ] || source_dir=/opt/airflow/dags  # else the copy in the image
if [ ! -f "$repo/HEAD" ]; then
  # The same layout `make up` creates (stack/dag_repo.py): a bare repository, branch main, dags/*.py.
  work=$(mktemp -d)
  mkdir "$work/dags"
  find "$source_dir" -maxdepth 1 -type f \( -name '*.py' -o -name .airflowignore \) -exec cp {} "$work/dags/" \;
  git init --quiet --bare --initial-branch=main "$repo"
  export GIT_AUTHOR_NAME="hss airflow-init" GIT_AUTHOR_EMAIL="airflow-init@hss.invalid"
  export GIT_COMMITTER_NAME="$GIT_AUTHOR_NAME" GIT_COMMITTER_EMAIL="$GIT_AUTHOR_EMAIL"
  git --git-dir="$repo" --work-tree="$work" add --all .
  git --git-dir="$repo" --work-tree="$work" commit --quiet -m "deploy 1: the DAGs of airflow/dags, seeded by airflow-init"
  rm -rf "$work"
  echo "airflow-init: DAG repository seeded from $source_dir ($(git --git-dir="$repo" rev-parse --short HEAD))"
else
  echo "airflow-init: DAG repository present ($(git --git-dir="$repo" rev-parse --short HEAD 2>/dev/null || echo 'no commit'))"
fi

airflow db migrate
airflow pools import /opt/airflow/config/pools.json
python - <<'EOF'
import json, os, pathlib
path = pathlib.Path(os.environ["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"])
tmp = path.with_name(f".{path.name}.tmp")
tmp.unlink(missing_ok=True)
fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # replaces one an earlier AIRFLOW_UID wrote
with os.fdopen(fd, "w") as handle:
    json.dump({os.environ["ADMIN_USER"]: os.environ["ADMIN_PASSWORD"]}, handle)
os.replace(tmp, path)
EOF
echo "airflow-init done"

#!/usr/bin/env bash
# All four scale scenarios one after the other (about 10 minutes on 2 cores).
set -uo pipefail
d="$(dirname "$0")"
"$d/scale-users.sh" && "$d/scale-paging.sh" && "$d/scale-group.sh" && "$d/scale-entra.sh"

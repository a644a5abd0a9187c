# Sourced by the echo benchmarks (echo.sh, syscalls.sh): the echo servers
# and the helper that picks entries by name.

# name | command (in target/release) | permessage-deflate
# shellcheck disable=SC2034  # used by the scripts that source this file
ALL_SERVERS=(
  "raw|echo-raw|0"
  "ours-mio|echo-ours --adapter mio|1"
  "ours-uring|echo-ours --adapter uring|1"
  "ours-std|echo-ours --adapter std|1"
  "ours-smol|echo-ours --adapter smol|1"
  "ours-tokio|echo-ours --adapter tokio|1"
  "tokio-tungstenite|echo-tungstenite|0"
  "tokio-websockets|echo-tokio-websockets|0"
  "fastwebsockets|echo-fastwebsockets|0"
)

pick() { # pick "names" entries... -> entries whose name is listed (all if names empty)
  local names=$1; shift
  for e in "$@"; do
    if [ -z "$names" ] || [[ " $names " == *" ${e%%|*} "* ]]; then echo "$e"; fi
  done
}

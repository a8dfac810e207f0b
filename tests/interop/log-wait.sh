# Waiting for a line in a log, bounded. Source it; do not run it. Shared by lib.sh (and so every
# suite built on it) and by the suites that run their own servers (acme.sh, mdns.sh).
#
# A server writes its log from a background thread, so a line lands in the file a moment after
# the event that logged it (Hearth's request lines up to 50 ms later, longer on a loaded box).
# A test never greps a log once for a line it expects: it waits for it with these.
#
#   wait_log FILE PATTERN [SECS]           until a line matches PATTERN (grep's basic regex);
#                                          default 5 s; returns 1 if none came in time
#   wait_log_count FILE PATTERN N [SECS]   until at least N lines match

wait_log_count() {
  local file=$1 pattern=$2 want=$3 secs=${4:-5} n end
  end=$(($(date +%s%N) + secs * 1000000000))
  while :; do
    n=$(grep -c -- "$pattern" "$file" 2>/dev/null) || n=0
    [ "$n" -ge "$want" ] && return 0
    [ "$(date +%s%N)" -ge "$end" ] && return 1
    sleep 0.02
  done
}

wait_log() {
  wait_log_count "$1" "$2" 1 "${3:-5}"
}

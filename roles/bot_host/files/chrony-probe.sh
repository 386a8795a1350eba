#!/bin/sh
# Wait, within a deadline, until a chronyd has a time source, then print its state for the chrony_state filter.
# With CHRONY_PROBE_TRIAL set, the chronyd is a trial one: it reads the candidate configuration from stdin,
# runs beside the host's own chronyd with its own pidfile and command socket, never touches the clock (-x),
# serves no one (port 0) and is gone when this script ends. The host's chronyd and its files are not touched.
set -u
tries=${CHRONY_PROBE_TRIES:-60}
interval=${CHRONY_PROBE_INTERVAL:-2}
socket=/run/chrony/chronyd.sock
if [ -n "${CHRONY_PROBE_TRIAL:-}" ]; then
  trial=$(mktemp -d /run/tradebot-chrony-trial.XXXXXX) || exit 1
  trap 'kill "$(cat "$trial/chronyd.pid" 2>/dev/null)" 2>/dev/null; rm -rf "$trial"' EXIT
  # chronyd drops to its own user and only opens a socket in a directory that user owns.
  chown --reference=/var/lib/chrony "$trial"
  socket=$trial/chronyd.sock
  { cat; printf 'pidfile %s/chronyd.pid\nbindcmdaddress %s\ncmdport 0\nport 0\n' "$trial" "$socket"; } \
    > "$trial/chrony.conf"
  /usr/sbin/chronyd -x -f "$trial/chrony.conf" || exit 1
fi
# waitsync polls quietly: max-tries, no limit on correction or skew, interval in seconds.
chronyc -h "$socket" waitsync "$tries" 0 0 "$interval" > /dev/null
for report in tracking "-n sources" "-N sources" "-n selectdata" "-n ntpdata" "-n sourcestats"; do
  echo "#$report"
  # shellcheck disable=SC2086 # the report's words are separate arguments
  chronyc -h "$socket" -c $report 2>&1
done
exit 0

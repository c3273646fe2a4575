# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck shell=sh
#
# Sourced by guest-test.sh (x86 guests), with iovad running and container
# "test" holding the edu devices' groups: a crash of iovad while a client
# holds a mapped lease and a device fd (docs/state.md, "Adopting a
# container").
#
#   1. iovad is started again under fdstore-supervisor, which plays
#      systemd's part: NOTIFY_SOCKET with FDSTORE=1 / FDSTOREREMOVE=1, and
#      on a crash a restart with LISTEN_FDS / LISTEN_FDNAMES;
#   2. kernel-client --across-restart, as TEST_UID, takes an AllocateMapped
#      lease, opens the edu devices, DMAs through the lease and waits;
#   3. iovad is SIGKILLed; the supervisor starts it again with the stored
#      fds, and it must adopt the kernel's container (the client's device
#      fd keeps the groups in it: a new container would get EBUSY);
#   4. the client then finds the lease at the same IOVA, mapped, and edu
#      DMA through the device fd it held reaches its pages;
#   5. a clean stop ends iovad and the supervisor (which flushes its
#      store), and iovad starts again as before, for what follows.

restart_wait_name() { # restart_wait_name PID: until org.iovad1 has an owner, while PID lives
	i=0
	while [ $i -lt 600 ]; do
		busctl call org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus \
			NameHasOwner s org.iovad1 2>/dev/null | grep -q true && return 0
		kill -0 "$1" 2>/dev/null || return 1
		sleep 0.1
		i=$((i + 1))
	done
	return 1
}

restart_check() {
	say "restart check at $(uptime_s)s: iovad under $SUPERVISOR"
	stop_iovad
	"$SUPERVISOR" --socket "$rt/notify.sock" --pid-file "$rt/iovad.pid" -- \
		"$DAEMON" --state-dir="$rt/state" --runtime-dir="$rt/runtime" --log-level=debug --no-polkit \
		>> "$run/iovad.log" 2>&1 &
	supervisor_pid=$!
	if ! restart_wait_name "$supervisor_pid"; then
		fail "iovad under fdstore-supervisor did not come up on the bus"
		return
	fi
	iovad_pid=$(cat "$rt/iovad.pid")
	ok "iovad (pid $iovad_pid) owns org.iovad1 under fdstore-supervisor (pid $supervisor_pid)"

	go=$rt/restart-go
	rm -f "$go"
	as_user "$rt/kernel-client" --container test --limit 0x0fffffff --across-restart "$go" $IOVAD_EDU \
		> "$run/client-restart.log" 2>&1 &
	client_pid=$!
	i=0
	while ! grep -q '^kernel-client: holding lease' "$run/client-restart.log" && [ $i -lt 600 ]; do
		kill -0 "$client_pid" 2>/dev/null || break
		sleep 0.1
		i=$((i + 1))
	done
	held=$(sed -n 's/^kernel-client: holding lease \(.*\)$/\1/p' "$run/client-restart.log")
	if [ -z "$held" ]; then
		fail "kernel-client took no lease to hold across the restart"
		sed 's/^/client| /' "$run/client-restart.log"
		touch "$go"
		wait "$client_pid"
		return
	fi
	ok "kernel-client (uid $TEST_UID) holds lease $held and the edu device fds"

	say "SIGKILL to iovad (pid $iovad_pid) at $(uptime_s)s"
	kill -KILL "$iovad_pid"
	i=0
	while [ "$(cat "$rt/iovad.pid")" = "$iovad_pid" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
	new_pid=$(cat "$rt/iovad.pid")
	check "fdstore-supervisor started iovad again (pid $new_pid)" test "$new_pid" != "$iovad_pid"
	iovad_pid=$new_pid
	if restart_wait_name "$iovad_pid"; then
		ok "the restarted iovad owns org.iovad1 at $(uptime_s)s"
	else
		fail "the restarted iovad did not come up on the bus"
	fi
	adopted=$(grep "Adopted the kernel's container 'test'" "$run/iovad.log" | tail -n 1)
	check "the restarted iovad adopted the kernel's container (${adopted#*iovad: })" \
		sh -c 'echo "$1" | grep -q "1 mapping taken over, 0 mapped again, 0 replaced"' - "$adopted"
	check "no group of it was refused as busy" sh -c '! grep -q "Cannot re-attach group" "$1"' - "$run/iovad.log"

	touch "$go"
	wait "$client_pid"
	rc=$?
	cat "$run/client-restart.log"
	check "kernel-client across the restart passed (exit $rc)" test "$rc" -eq 0

	# A clean stop: iovad exits 0, the supervisor flushes its store and exits too.
	kill -TERM "$iovad_pid"
	wait "$supervisor_pid"
	rc=$?
	iovad_pid=
	check "iovad and fdstore-supervisor stop cleanly on SIGTERM (exit $rc)" test "$rc" -eq 0
	start_iovad
}

restart_check

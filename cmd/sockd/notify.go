package main

import (
	"log/slog"
	"net"
	"os"
)

// notifySystemd tells the service manager the daemon's state (sd_notify(3)):
// "READY=1" once it serves, so that a unit of Type=notify counts as started
// only then, and a reload (SIGHUP) sent after start finds the handler in
// place; "STOPPING=1" when the drain begins. Without $NOTIFY_SOCKET (not
// under systemd, or another Type) it does nothing.
func notifySystemd(state string, logger *slog.Logger) {
	name := os.Getenv("NOTIFY_SOCKET")
	if name == "" {
		return
	}
	if name[0] == '@' { // an abstract name
		name = "\x00" + name[1:]
	}
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: name, Net: "unixgram"})
	if err == nil {
		_, err = conn.Write([]byte(state))
		conn.Close()
	}
	if err != nil {
		logger.Warn("cannot tell the service manager", "state", state, "err", err)
	}
}

package options

import (
	"fmt"
	"strings"
)

// Level is an option level: one of the seed's seven tables. The numbering
// matches the API's OptionLevel enum.
type Level int

// The levels.
const (
	LevelOTP Level = iota + 1
	LevelSocket
	LevelIP
	LevelIPv6
	LevelTCP
	LevelUDP
	LevelSCTP
)

var levelNames = [...]string{
	LevelOTP:    "otp",
	LevelSocket: "socket",
	LevelIP:     "ip",
	LevelIPv6:   "ipv6",
	LevelTCP:    "tcp",
	LevelUDP:    "udp",
	LevelSCTP:   "sctp",
}

// Levels lists the levels in the seed's order.
func Levels() []Level {
	return []Level{LevelOTP, LevelSocket, LevelIP, LevelIPv6, LevelTCP, LevelUDP, LevelSCTP}
}

// Valid reports whether l is one of the seven levels.
func (l Level) Valid() bool { return l >= LevelOTP && l <= LevelSCTP }

func (l Level) String() string {
	if !l.Valid() {
		return fmt.Sprintf("level(%d)", int(l))
	}
	return levelNames[l]
}

// ParseLevel parses a level's name.
func ParseLevel(s string) (Level, error) {
	for _, l := range Levels() {
		if strings.EqualFold(s, levelNames[l]) {
			return l, nil
		}
	}
	return 0, fmt.Errorf("unknown option level %q: want otp, socket, ip, ipv6, tcp, udp or sctp", s)
}

// Key names an option: Erlang's {Level, Opt}.
type Key struct {
	Level Level
	Name  string
}

// String is "level.name", the spelling IsSupported keys use; a native
// option's key is its name alone, "native(level,name)".
func (k Key) String() string {
	if !k.Level.Valid() {
		return k.Name
	}
	return k.Level.String() + "." + k.Name
}

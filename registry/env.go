package registry

// EnvVar is the environment variable that sets the global default of
// use_registry when sockd starts (reference §3.3, level 2).
const EnvVar = "ESOCK_USE_SOCKET_REGISTRY"

// StartDefault is the global default of use_registry at start: the value of
// EnvVar if it is exactly "true" or "false", otherwise built, the daemon's
// configured default (level 1). As in Erlang, any other value is ignored.
func StartDefault(built bool, env string) bool {
	switch env {
	case "true":
		return true
	case "false":
		return false
	}
	return built
}

package harness

// Crash crashes host in the case's network (see netsim.Network.Crash):
// what the nemesis's crash step does, and what a user's own step calls
// (for example, to crash the current leader).
func (t *T) Crash(host string) error {
	return t.Net.Crash(host)
}

// Restart restarts a crashed host (see netsim.Network.Restart).
func (t *T) Restart(host string) error {
	return t.Net.Restart(host)
}
